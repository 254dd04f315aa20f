#!/usr/bin/env bash
# Base-to-new, step 2: evaluate the base-trained masks on the new classes, seeds $SEEDS.
#   bash scripts/ramt/base2new_eval.sh DATASET [KEY VALUE ...]
# Output: $OUTPUT/base2new/test_new/<DATASET>/shots_16/RAMT/<tag>/seed<S>/ (parse with --test-log).
# Folders and arguments: the method registry (python -m ramt.methods base2new ramt eval DATASET SEED).
source "$(dirname "$0")/../common.sh"
[ $# -ge 1 ] || die "usage: bash scripts/ramt/base2new_eval.sh DATASET [KEY VALUE ...]"
DATASET=$1; shift
require_dataset "$DATASET"
for SEED in $SEEDS; do
  run_base2new ramt eval "$DATASET" "$SEED" "$@"
done
