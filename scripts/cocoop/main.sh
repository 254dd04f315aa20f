#!/usr/bin/env bash
# CoCoOp few-shot training (4 context tokens from "a photo of a", batch 1, 10 epochs), seeds $SEEDS.
#   bash scripts/cocoop/main.sh DATASET SHOTS [KEY VALUE ...]
# Output: $OUTPUT/<DATASET>/CoCoOp/<cfg>_<SHOTS>shots/seed<S>/, where <cfg> is the config used
# (vit_b16_c4_ep10_batch1_ctxv1, or digits_vit_b16 for Digits) with vit_b16 replaced by the backbone's
# folder tag. Parse with parse_test_res.py on the <cfg>_<SHOTS>shots folder.
# Folders and config: the method registry (python -m ramt.methods run-dir cocoop DATASET SHOTS SEED).
source "$(dirname "$0")/../common.sh"
[ $# -ge 2 ] || die "usage: bash scripts/cocoop/main.sh DATASET SHOTS [KEY VALUE ...]"
DATASET=$1; SHOTS=$2; shift 2
require_dataset "$DATASET"; require_shots "$SHOTS"
for SEED in $SEEDS; do
  run_method cocoop "$DATASET" "$SHOTS" "$SEED" "$@"
done
