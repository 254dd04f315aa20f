#!/usr/bin/env bash
# Tip-Adapter(-F) + R-AMT (project reconstruction, two-stage), seeds $SEEDS (default 1 2 3).
#   bash scripts/tip_adapter_ramt/main.sh DATASET SHOTS [KEY VALUE ...]
# Reuses the R-AMT run $OUTPUT/<DATASET>/RAMT/<tag>_<SHOTS>shots/seed<S> (trained first with
# scripts/ramt/main.sh and the same extra options when it is not finished), then runs Tip-Adapter
# ("tip") and Tip-Adapter-F ("tipf") unchanged on the folded encoder. PROTOCOL=official: as in
# scripts/tip_adapter/main.sh ({tip,tipf}_official/ folders).
# Output: $OUTPUT/<DATASET>/TipAdapterRAMT/<tag>_<SHOTS>shots/{tip,tipf}/seed<S>/.
source "$(dirname "$0")/../common.sh"
[ $# -ge 2 ] || die "usage: bash scripts/tip_adapter_ramt/main.sh DATASET SHOTS [KEY VALUE ...]"
DATASET=$1; SHOTS=$2; shift 2
require_dataset "$DATASET"; require_shots "$SHOTS"
TRAINER=TipAdapterRAMT
CFG=$(recipe_config TipAdapterRAMT "$DATASET" vit_b16)
VARIANTS="${VARIANTS:-tip tipf}"
TAG=$(backbone_tag "$@")
for SEED in $SEEDS; do
  SOURCE="${OUTPUT}/${DATASET}/RAMT/${TAG}_${SHOTS}shots/seed${SEED}"
  if ! is_finished "$SOURCE"; then
    echo "Stage 1: R-AMT run ${SOURCE} is not finished; training it first"
    EXP= SEEDS="$SEED" bash scripts/ramt/main.sh "$DATASET" "$SHOTS" "$@"
  fi
  for VARIANT in $VARIANTS; do
    FINETUNE=$(tip_finetune "$VARIANT")
    PROTOCOL_OPTS=$(tip_protocol_opts "$DATASET" "$VARIANT")
    # shellcheck disable=SC2086  # PROTOCOL_OPTS holds KEY VALUE words without spaces
    run_train "${OUTPUT}/${DATASET}/${TRAINER}/${TAG}_${SHOTS}shots/$(tip_variant_dir "$VARIANT")/seed${SEED}" -- \
      --seed "$SEED" --trainer "$TRAINER" \
      --dataset-config-file "configs/datasets/${DATASET}.yaml" \
      --config-file "configs/trainers/${TRAINER}/${CFG}.yaml" \
      TRAINER.TIP.FINETUNE "$FINETUNE" $PROTOCOL_OPTS DATASET.NUM_SHOTS "$SHOTS" MASK.SOURCE_RUN "$SOURCE" "$@"
  done
done
