#!/usr/bin/env bash
# CoOp + R-AMT (project reconstruction), seeds $SEEDS (default 1 2 3).
#   bash scripts/coop_ramt/main.sh DATASET SHOTS [KEY VALUE ...]
# Two-stage (default): reuse the R-AMT run $OUTPUT/<DATASET>/RAMT/<tag>_<SHOTS>shots/seed<S> (trained
# first with scripts/ramt/main.sh and the same extra options when it is not finished), then run CoOp
# unchanged on the folded encoder. With "COMBO.MODE joint" among the options, masks and context are
# trained together in one run (no R-AMT stage; folder tag gets "_joint").
# Output: $OUTPUT/<DATASET>/CoOpRAMT/<cfg>_<SHOTS>shots/nctx<N>_csc<Bool>_ctp<pos>/seed<S>/.
source "$(dirname "$0")/../common.sh"
[ $# -ge 2 ] || die "usage: bash scripts/coop_ramt/main.sh DATASET SHOTS [KEY VALUE ...]"
DATASET=$1; SHOTS=$2; shift 2
require_dataset "$DATASET"; require_shots "$SHOTS"
TRAINER=CoOpRAMT
NCTX="${NCTX:-16}"; CSC="${CSC:-False}"; CTP="${CTP:-end}"
CFG=$(coop_config CoOpRAMT "$DATASET" "$SHOTS")
BTAG=$(backbone_tag "$@")
MODE=two_stage
ARGS=("$@")
for ((i = 0; i + 1 < ${#ARGS[@]}; i += 2)); do
  [ "${ARGS[i]}" = "COMBO.MODE" ] && MODE="${ARGS[i+1]}"
done
TAG="nctx${NCTX}_csc${CSC}_ctp${CTP}"
[ "$MODE" = "joint" ] && TAG="${TAG}_joint"
for SEED in $SEEDS; do
  MASK_ARGS=()
  if [ "$MODE" != "joint" ]; then
    SOURCE="${OUTPUT}/${DATASET}/RAMT/${BTAG}_${SHOTS}shots/seed${SEED}"
    if ! is_finished "$SOURCE"; then
      echo "Stage 1: R-AMT run ${SOURCE} is not finished; training it first"
      EXP= SEEDS="$SEED" bash scripts/ramt/main.sh "$DATASET" "$SHOTS" "$@"
    fi
    MASK_ARGS=(MASK.SOURCE_RUN "$SOURCE")
  fi
  run_train "${OUTPUT}/${DATASET}/${TRAINER}/$(tagged "$CFG" "$BTAG")_${SHOTS}shots/${TAG}/seed${SEED}" -- \
    --seed "$SEED" --trainer "$TRAINER" \
    --dataset-config-file "configs/datasets/${DATASET}.yaml" \
    --config-file "configs/trainers/${TRAINER}/${CFG}.yaml" \
    TRAINER.COOP.N_CTX "$NCTX" TRAINER.COOP.CSC "$CSC" TRAINER.COOP.CLASS_TOKEN_POSITION "$CTP" \
    DATASET.NUM_SHOTS "$SHOTS" "${MASK_ARGS[@]}" "$@"
done
