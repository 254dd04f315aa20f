#!/usr/bin/env bash
# Base-to-new, step 1: train R-AMT on the base classes (16 shots, lambda 1.0), seeds $SEEDS.
#   bash scripts/ramt/base2new_train.sh DATASET [KEY VALUE ...]
# Output: $OUTPUT/base2new/train_base/<DATASET>/shots_16/RAMT/<tag>/seed<S>/ (<tag>: the backbone's, vit_b16 by default)
# Folders and arguments: the method registry (python -m ramt.methods base2new ramt train DATASET SEED).
source "$(dirname "$0")/../common.sh"
[ $# -ge 1 ] || die "usage: bash scripts/ramt/base2new_train.sh DATASET [KEY VALUE ...]"
DATASET=$1; shift
require_dataset "$DATASET"
for SEED in $SEEDS; do
  run_base2new ramt train "$DATASET" "$SEED" "$@"
done
