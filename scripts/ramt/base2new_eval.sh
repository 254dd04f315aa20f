#!/usr/bin/env bash
# Base-to-new, step 2: evaluate the base-trained masks on the new classes, seeds $SEEDS.
#   bash scripts/ramt/base2new_eval.sh DATASET [KEY VALUE ...]
# Output: $OUTPUT/base2new/test_new/<DATASET>/shots_16/RAMT/<tag>/seed<S>/ (parse with --test-log).
source "$(dirname "$0")/../common.sh"
[ $# -ge 1 ] || die "usage: bash scripts/ramt/base2new_eval.sh DATASET [KEY VALUE ...]"
DATASET=$1; shift
require_dataset "$DATASET"
TRAINER=RAMT
CFG=$(ramt_config "$DATASET")
TAG=$(backbone_tag "$@")
for SEED in $SEEDS; do
  SRC="${OUTPUT}/base2new/train_base/${DATASET}/shots_16/${TRAINER}/${TAG}/seed${SEED}"
  is_finished "$SRC" || die "no finished base-class run in ${SRC}; run scripts/ramt/base2new_train.sh ${DATASET} first"
  run_train "${OUTPUT}/base2new/test_new/${DATASET}/shots_16/${TRAINER}/${TAG}/seed${SEED}" --test-log -- \
    --seed "$SEED" --trainer "$TRAINER" \
    --dataset-config-file "configs/datasets/${DATASET}.yaml" \
    --config-file "configs/trainers/${TRAINER}/${CFG}.yaml" \
    --eval-only --model-dir "$SRC" \
    DATASET.NUM_SHOTS 16 DATASET.SUBSAMPLE_CLASSES new "$@"
done
