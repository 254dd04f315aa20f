#!/usr/bin/env bash
# UPT few-shot training (project reconstruction, docs/BASELINES.md), seeds $SEEDS (default 1 2 3).
#   bash scripts/upt/main.sh DATASET SHOTS [KEY VALUE ...]
# Output: $OUTPUT/<DATASET>/UPT/<cfg>_<SHOTS>shots/seed<S>/, where <cfg> is vit_b16 (digits_vit_b16 for the
# Digits toy recipe) with vit_b16 replaced by the backbone's folder tag (tiny, ...). Parse with parse_test_res.py.
source "$(dirname "$0")/../common.sh"
[ $# -ge 2 ] || die "usage: bash scripts/upt/main.sh DATASET SHOTS [KEY VALUE ...]"
DATASET=$1; SHOTS=$2; shift 2
require_dataset "$DATASET"; require_shots "$SHOTS"
TRAINER=UPT
CFG=$(recipe_config "$TRAINER" "$DATASET" vit_b16)
TAG=$(backbone_tag "$@")
for SEED in $SEEDS; do
  run_train "${OUTPUT}/${DATASET}/${TRAINER}/$(tagged "$CFG" "$TAG")_${SHOTS}shots/seed${SEED}" -- \
    --seed "$SEED" --trainer "$TRAINER" \
    --dataset-config-file "configs/datasets/${DATASET}.yaml" \
    --config-file "configs/trainers/${TRAINER}/${CFG}.yaml" \
    DATASET.NUM_SHOTS "$SHOTS" "$@"
done
