#!/usr/bin/env bash
# Zero-shot CLIP on one dataset (nothing random: one run, no seed level).
#   bash scripts/zsclip/main.sh DATASET [KEY VALUE ...]
# Output: $OUTPUT/ZeroshotCLIP/<tag>/<DATASET>/ (parse $OUTPUT/ZeroshotCLIP/<tag> with --test-log), <tag> the
# backbone's folder tag (vit_b16 by default).
source "$(dirname "$0")/../common.sh"
[ $# -ge 1 ] || die "usage: bash scripts/zsclip/main.sh DATASET [KEY VALUE ...]"
DATASET=$1; shift
require_dataset "$DATASET"
TRAINER=ZeroshotCLIP
TAG=$(backbone_tag "$@")
run_train "${OUTPUT}/${TRAINER}/${TAG}/${DATASET}" --test-log -- \
  --trainer "$TRAINER" \
  --dataset-config-file "configs/datasets/${DATASET}.yaml" \
  --config-file "configs/trainers/${TRAINER}/vit_b16.yaml" \
  --eval-only "$@"
