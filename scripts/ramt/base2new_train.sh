#!/usr/bin/env bash
# Base-to-new, step 1: train R-AMT on the base classes (16 shots, lambda 1.0), seeds $SEEDS.
#   bash scripts/ramt/base2new_train.sh DATASET [KEY VALUE ...]
# Output: $OUTPUT/base2new/train_base/<DATASET>/shots_16/RAMT/<tag>/seed<S>/ (<tag>: the backbone's, vit_b16 by default)
source "$(dirname "$0")/../common.sh"
[ $# -ge 1 ] || die "usage: bash scripts/ramt/base2new_train.sh DATASET [KEY VALUE ...]"
DATASET=$1; shift
require_dataset "$DATASET"
TRAINER=RAMT
CFG=$(ramt_config "$DATASET")
TAG=$(backbone_tag "$@")
for SEED in $SEEDS; do
  run_train "${OUTPUT}/base2new/train_base/${DATASET}/shots_16/${TRAINER}/${TAG}/seed${SEED}" -- \
    --seed "$SEED" --trainer "$TRAINER" \
    --dataset-config-file "configs/datasets/${DATASET}.yaml" \
    --config-file "configs/trainers/${TRAINER}/${CFG}.yaml" \
    DATASET.NUM_SHOTS 16 DATASET.SUBSAMPLE_CLASSES base "$@"
done
