#!/usr/bin/env bash
# Linear-probe CLIP (CoOp's lpclip), seeds $SEEDS (default 1 2 3).
#   bash scripts/linear_probe/main.sh DATASET SHOTS [KEY VALUE ...]
# Output: $OUTPUT/<DATASET>/LinearProbeCLIP/<cfg>_<SHOTS>shots/seed<S>/, where <cfg> is the config used
# (vit_b16, or digits_vit_b16 for Digits) with vit_b16 replaced by the backbone's folder tag.
# Parse with parse_test_res.py on the <cfg>_<SHOTS>shots folder.
# Folders and config: the method registry (python -m ramt.methods run-dir linear_probe DATASET SHOTS SEED).
source "$(dirname "$0")/../common.sh"
[ $# -ge 2 ] || die "usage: bash scripts/linear_probe/main.sh DATASET SHOTS [KEY VALUE ...]"
DATASET=$1; SHOTS=$2; shift 2
require_dataset "$DATASET"; require_shots "$SHOTS"
for SEED in $SEEDS; do
  run_method linear_probe "$DATASET" "$SHOTS" "$SEED" "$@"
done
