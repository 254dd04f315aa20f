#!/usr/bin/env bash
# Evaluate finished R-AMT runs (their bit-packed masks) on a dataset, seeds $SEEDS.
#   bash scripts/ramt/eval.sh SOURCE_DATASET SHOTS [TARGET_DATASET] [KEY VALUE ...]
# TARGET_DATASET defaults to SOURCE_DATASET. The mask file recorded by each source run is loaded
# (no epoch guessing). Output: $OUTPUT/evaluation/RAMT/<tag>_<SHOTS>shots/<TARGET>/seed<S>/
# (parse with --test-log).
source "$(dirname "$0")/../common.sh"
[ $# -ge 2 ] || die "usage: bash scripts/ramt/eval.sh SOURCE_DATASET SHOTS [TARGET_DATASET] [KEY VALUE ...]"
SOURCE=$1; SHOTS=$2; shift 2
TARGET=$SOURCE
if [ $# -ge 1 ] && [[ "$1" != *.* ]]; then TARGET=$1; shift; fi
require_dataset "$SOURCE"; require_dataset "$TARGET"; require_shots "$SHOTS"
TRAINER=RAMT
CFG=$(ramt_config "$SOURCE")
TAG=$(backbone_tag "$@")
for SEED in $SEEDS; do
  SRC=$(ramt_run_dir "$SOURCE" "$SHOTS" "$SEED" "$@") || exit 2
  is_finished "$SRC" || die "no finished R-AMT run in ${SRC}; train it first: bash scripts/ramt/main.sh ${SOURCE} ${SHOTS}"
  run_train "${OUTPUT}/evaluation/${TRAINER}/${TAG}_${SHOTS}shots/${TARGET}/seed${SEED}" --test-log -- \
    --seed "$SEED" --trainer "$TRAINER" \
    --dataset-config-file "configs/datasets/${TARGET}.yaml" \
    --config-file "configs/trainers/${TRAINER}/${CFG}.yaml" \
    --eval-only --model-dir "$SRC" \
    DATASET.NUM_SHOTS "$SHOTS" "$@"
done
