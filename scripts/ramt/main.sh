#!/usr/bin/env bash
# R-AMT few-shot training, seeds $SEEDS (default 1 2 3).
#   bash scripts/ramt/main.sh DATASET SHOTS [KEY VALUE ...]
# Output: $OUTPUT/<DATASET>/RAMT/<tag>_<SHOTS>shots/seed<S>/ (parse with parse_test_res.py), where <tag> is
# the backbone's folder tag: vit_b16 (default ViT-B/16), tiny, vit_b16_laion2b_s34b_b88k, ...
# The GDR lambda comes from the policy table (MASK.GDR_LAMBDA -1.0); pass MASK.GDR_LAMBDA 0.3 to
# override, MASK.GDR False for AMT, MASK.LAYERS "('mlp','conv1')" for R-MMT, "('all',)" for R-PMT
# (give variants their own folder with EXP=..., e.g. EXP=vit_b16_16shots_amt).
source "$(dirname "$0")/../common.sh"
[ $# -ge 2 ] || die "usage: bash scripts/ramt/main.sh DATASET SHOTS [KEY VALUE ...]"
DATASET=$1; SHOTS=$2; shift 2
require_dataset "$DATASET"; require_shots "$SHOTS"
TRAINER=RAMT
CFG=$(ramt_config "$DATASET")
TAG=$(backbone_tag "$@")
EXP="${EXP:-${TAG}_${SHOTS}shots}"
for SEED in $SEEDS; do
  run_train "${OUTPUT}/${DATASET}/${TRAINER}/${EXP}/seed${SEED}" -- \
    --seed "$SEED" --trainer "$TRAINER" \
    --dataset-config-file "configs/datasets/${DATASET}.yaml" \
    --config-file "configs/trainers/${TRAINER}/${CFG}.yaml" \
    DATASET.NUM_SHOTS "$SHOTS" "$@"
done
