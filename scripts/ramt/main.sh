#!/usr/bin/env bash
# R-AMT few-shot training, seeds $SEEDS (default 1 2 3).
#   bash scripts/ramt/main.sh DATASET SHOTS [KEY VALUE ...]
# Output: $OUTPUT/<DATASET>/RAMT/vit_b16_<SHOTS>shots/seed<S>/ (parse with parse_test_res.py).
# The GDR lambda comes from the policy table (MASK.GDR_LAMBDA -1.0); pass MASK.GDR_LAMBDA 0.3 to
# override, MASK.GDR False for AMT, MASK.LAYERS "('mlp','conv1')" for R-MMT, "('all',)" for R-PMT
# (give variants their own folder with EXP=..., e.g. EXP=vit_b16_16shots_amt).
source "$(dirname "$0")/../common.sh"
[ $# -ge 2 ] || die "usage: bash scripts/ramt/main.sh DATASET SHOTS [KEY VALUE ...]"
DATASET=$1; SHOTS=$2; shift 2
require_dataset "$DATASET"; require_shots "$SHOTS"
TRAINER=RAMT
CFG=$(ramt_config "$DATASET")
EXP="${EXP:-vit_b16_${SHOTS}shots}"
for SEED in $SEEDS; do
  run_train "${OUTPUT}/${DATASET}/${TRAINER}/${EXP}/seed${SEED}" -- \
    --seed "$SEED" --trainer "$TRAINER" \
    --dataset-config-file "configs/datasets/${DATASET}.yaml" \
    --config-file "configs/trainers/${TRAINER}/${CFG}.yaml" \
    DATASET.NUM_SHOTS "$SHOTS" "$@"
done
