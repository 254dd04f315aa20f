#!/usr/bin/env bash
# ProGrad few-shot training (CoOp + projected gradient), seeds $SEEDS (default 1 2 3).
#   bash scripts/prograd/main.sh DATASET SHOTS [KEY VALUE ...]
# Output: $OUTPUT/<DATASET>/ProGrad/<cfg>_<SHOTS>shots/nctx<N>_csc<Bool>_ctp<pos>/seed<S>/, where <cfg> is
# the config used: vit_b16_ep50 (1 shot, ImageNet), vit_b16_ep100 (2/4 shots), vit_b16 (8/16 shots), with
# vit_b16 replaced by the backbone's folder tag for other backbones (tiny_ep100, ...).
# Context options: NCTX (16), CSC (False), CTP (end: end/middle/front) from the environment.
# Parse with parse_test_res.py on the nctx... folder.
source "$(dirname "$0")/../common.sh"
[ $# -ge 2 ] || die "usage: bash scripts/prograd/main.sh DATASET SHOTS [KEY VALUE ...]"
DATASET=$1; SHOTS=$2; shift 2
require_dataset "$DATASET"; require_shots "$SHOTS"
TRAINER=ProGrad
NCTX="${NCTX:-16}"; CSC="${CSC:-False}"; CTP="${CTP:-end}"
CFG=$(coop_config ProGrad "$DATASET" "$SHOTS")
TAG=$(backbone_tag "$@")
for SEED in $SEEDS; do
  run_train "${OUTPUT}/${DATASET}/${TRAINER}/$(tagged "$CFG" "$TAG")_${SHOTS}shots/nctx${NCTX}_csc${CSC}_ctp${CTP}/seed${SEED}" -- \
    --seed "$SEED" --trainer "$TRAINER" \
    --dataset-config-file "configs/datasets/${DATASET}.yaml" \
    --config-file "configs/trainers/${TRAINER}/${CFG}.yaml" \
    TRAINER.COOP.N_CTX "$NCTX" TRAINER.COOP.CSC "$CSC" TRAINER.COOP.CLASS_TOKEN_POSITION "$CTP" \
    DATASET.NUM_SHOTS "$SHOTS" "$@"
done
