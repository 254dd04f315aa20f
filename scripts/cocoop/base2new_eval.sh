#!/usr/bin/env bash
# Base-to-new, step 2: evaluate the base-trained CoCoOp on the new classes, seeds $SEEDS.
#   bash scripts/cocoop/base2new_eval.sh DATASET [KEY VALUE ...]
# Loads the epoch OPTIM.MAX_EPOCH of the config (10; LOADEP overrides), as CoCoOp's base2new_test.sh.
# Output: $OUTPUT/base2new/test_new/<DATASET>/shots_16/CoCoOp/<cfg>/seed<S>/ (parse with --test-log).
source "$(dirname "$0")/../common.sh"
[ $# -ge 1 ] || die "usage: bash scripts/cocoop/base2new_eval.sh DATASET [KEY VALUE ...]"
DATASET=$1; shift
require_dataset "$DATASET"
TRAINER=CoCoOp
CFG=vit_b16_c4_ep10_batch1_ctxv1
CFG_TAG=$(config_tag "$CFG" "$@")
LOADEP="${LOADEP:-10}"
for SEED in $SEEDS; do
  COMMON="${DATASET}/shots_16/${TRAINER}/${CFG_TAG}/seed${SEED}"
  SRC="${OUTPUT}/base2new/train_base/${COMMON}"
  is_finished "$SRC" || die "no finished base-class run in ${SRC}; run scripts/cocoop/base2new_train.sh ${DATASET} first"
  run_train "${OUTPUT}/base2new/test_new/${COMMON}" --test-log -- \
    --seed "$SEED" --trainer "$TRAINER" \
    --dataset-config-file "configs/datasets/${DATASET}.yaml" \
    --config-file "configs/trainers/${TRAINER}/${CFG}.yaml" \
    --eval-only --model-dir "$SRC" --load-epoch "$LOADEP" \
    DATASET.NUM_SHOTS 16 DATASET.SUBSAMPLE_CLASSES new "$@"
done
