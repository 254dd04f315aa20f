#!/usr/bin/env bash
# Zero-shot CLIP on one dataset (nothing random: one run, no seed level).
#   bash scripts/zsclip/main.sh DATASET [KEY VALUE ...]
# Output: $OUTPUT/ZeroshotCLIP/<tag>/<DATASET>/ (parse $OUTPUT/ZeroshotCLIP/<tag> with --test-log), <tag> the
# backbone's folder tag (vit_b16 by default).
source "$(dirname "$0")/../common.sh"
[ $# -ge 1 ] || die "usage: bash scripts/zsclip/main.sh DATASET [KEY VALUE ...]"
DATASET=$1; shift
require_dataset "$DATASET"
run_method zsclip "$DATASET" - - "$@"
