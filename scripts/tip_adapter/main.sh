#!/usr/bin/env bash
# Tip-Adapter (training-free, "tip") and Tip-Adapter-F ("tipf"), seeds $SEEDS (default 1 2 3).
#   bash scripts/tip_adapter/main.sh DATASET SHOTS [KEY VALUE ...]
# Output: $OUTPUT/<DATASET>/TipAdapter/<tag>_<SHOTS>shots/{tip,tipf}/seed<S>/ (parse each variant folder).
# VARIANTS="tip tipf" by default. beta/alpha are searched on the few-shot val split (never on test);
# PROTOCOL=official runs Tip-Adapter's own protocol instead (full val / ImageNet: test search, Tip-F
# epoch best on test) into {tip,tipf}_official/ (see docs/METHODS.md).
# per-dataset settings come from ramt.policy.TIP_SETTINGS for TIP keys left at their defaults.
source "$(dirname "$0")/../common.sh"
[ $# -ge 2 ] || die "usage: bash scripts/tip_adapter/main.sh DATASET SHOTS [KEY VALUE ...]"
DATASET=$1; SHOTS=$2; shift 2
require_dataset "$DATASET"; require_shots "$SHOTS"
TRAINER=TipAdapter
CFG=$(recipe_config TipAdapter "$DATASET" vit_b16)
VARIANTS="${VARIANTS:-tip tipf}"
TAG=$(backbone_tag "$@")
for SEED in $SEEDS; do
  for VARIANT in $VARIANTS; do
    FINETUNE=$(tip_finetune "$VARIANT")
    PROTOCOL_OPTS=$(tip_protocol_opts "$DATASET" "$VARIANT")
    # shellcheck disable=SC2086  # PROTOCOL_OPTS holds KEY VALUE words without spaces
    run_train "${OUTPUT}/${DATASET}/${TRAINER}/${TAG}_${SHOTS}shots/$(tip_variant_dir "$VARIANT")/seed${SEED}" -- \
      --seed "$SEED" --trainer "$TRAINER" \
      --dataset-config-file "configs/datasets/${DATASET}.yaml" \
      --config-file "configs/trainers/${TRAINER}/${CFG}.yaml" \
      TRAINER.TIP.FINETUNE "$FINETUNE" $PROTOCOL_OPTS DATASET.NUM_SHOTS "$SHOTS" "$@"
  done
done
