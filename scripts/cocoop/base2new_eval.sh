#!/usr/bin/env bash
# Base-to-new, step 2: evaluate the base-trained CoCoOp on the new classes, seeds $SEEDS.
#   bash scripts/cocoop/base2new_eval.sh DATASET [KEY VALUE ...]
# Loads the last saved epoch (10 with the shipped config, as CoCoOp's base2new_test.sh; LOADEP=N picks another).
# Output: $OUTPUT/base2new/test_new/<DATASET>/shots_16/CoCoOp/<cfg>/seed<S>/ (parse with --test-log).
# Folders and arguments: the method registry (python -m ramt.methods base2new cocoop eval DATASET SEED).
source "$(dirname "$0")/../common.sh"
[ $# -ge 1 ] || die "usage: bash scripts/cocoop/base2new_eval.sh DATASET [KEY VALUE ...]"
DATASET=$1; shift
require_dataset "$DATASET"
for SEED in $SEEDS; do
  run_base2new cocoop eval "$DATASET" "$SEED" "$@"
done
