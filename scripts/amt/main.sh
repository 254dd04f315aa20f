#!/usr/bin/env bash
# AMT (R-AMT without gradient dropout, MASK.GDR False), seeds $SEEDS (default 1 2 3).
#   bash scripts/amt/main.sh DATASET SHOTS [KEY VALUE ...]
# Output: $OUTPUT/<DATASET>/RAMT/<tag>_<SHOTS>shots_amt/seed<S>/ (R-AMT's recipe with its own EXP
# folder, so that AMT runs are never taken for R-AMT ones, nor reused by the combinations).
# Folders and config: the method registry (python -m ramt.methods run-dir amt DATASET SHOTS SEED).
source "$(dirname "$0")/../common.sh"
[ $# -ge 2 ] || die "usage: bash scripts/amt/main.sh DATASET SHOTS [KEY VALUE ...]"
DATASET=$1; SHOTS=$2; shift 2
require_dataset "$DATASET"; require_shots "$SHOTS"
for SEED in $SEEDS; do
  run_method amt "$DATASET" "$SHOTS" "$SEED" "$@"
done
