#!/usr/bin/env bash
# Base-to-new, step 1: train CoCoOp on the base classes (16 shots), seeds $SEEDS.
#   bash scripts/cocoop/base2new_train.sh DATASET [KEY VALUE ...]
# Output: $OUTPUT/base2new/train_base/<DATASET>/shots_16/CoCoOp/<cfg>/seed<S>/ (<cfg>:
# vit_b16_c4_ep10_batch1_ctxv1 with vit_b16 replaced by the backbone's folder tag).
# Folders and arguments: the method registry (python -m ramt.methods base2new cocoop train DATASET SEED).
source "$(dirname "$0")/../common.sh"
[ $# -ge 1 ] || die "usage: bash scripts/cocoop/base2new_train.sh DATASET [KEY VALUE ...]"
DATASET=$1; shift
require_dataset "$DATASET"
for SEED in $SEEDS; do
  run_base2new cocoop train "$DATASET" "$SEED" "$@"
done
