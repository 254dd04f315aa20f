#!/usr/bin/env bash
# VPT-deep few-shot training (MaPLe's recipe: 8 tokens x 12 layers, 5 epochs), seeds $SEEDS (default 1 2 3).
#   bash scripts/vpt/main.sh DATASET SHOTS [KEY VALUE ...]
# Output: $OUTPUT/<DATASET>/VPT/<cfg>_<SHOTS>shots/seed<S>/, where <cfg> is vit_b16 (digits_vit_b16 for the
# Digits toy recipe) with vit_b16 replaced by the backbone's folder tag (tiny, ...). Parse with parse_test_res.py.
# Folders and config: the method registry (python -m ramt.methods run-dir vpt DATASET SHOTS SEED).
source "$(dirname "$0")/../common.sh"
[ $# -ge 2 ] || die "usage: bash scripts/vpt/main.sh DATASET SHOTS [KEY VALUE ...]"
DATASET=$1; SHOTS=$2; shift 2
require_dataset "$DATASET"; require_shots "$SHOTS"
for SEED in $SEEDS; do
  run_method vpt "$DATASET" "$SHOTS" "$SEED" "$@"
done
