#!/usr/bin/env bash
# A two-stage host + R-AMT combination registered in ramt.methods, seeds $SEEDS (default 1 2 3).
#   bash scripts/combination.sh METHOD DATASET SHOTS [KEY VALUE ...]
# The runner of a new combination is this one line (scripts/<METHOD>/main.sh):
#   exec bash "$(dirname "$0")/../combination.sh" <METHOD> "$@"
# Reuses the R-AMT run $OUTPUT/<DATASET>/RAMT/<tag>_<SHOTS>shots/seed<S> (trained first with
# scripts/ramt/main.sh and the same extra options when it is not finished), then runs the method's
# trainer with its registered config on the folded encoder (MASK.SOURCE_RUN); a shipped config
# (TRAINER/stem) gives way to the dataset's own recipe TRAINER/<DATASET>_vit_b16 where there is one.
# Output: $OUTPUT/<DATASET>/<TRAINER>/<config stem, vit_b16 -> tag>_<SHOTS>shots/seed<S>/, where <tag>
# is the backbone's folder tag (vit_b16 for ViT-B/16, tiny, ...; see docs/BACKBONES.md).
source "$(dirname "$0")/common.sh"
[ $# -ge 3 ] || die "usage: bash scripts/combination.sh METHOD DATASET SHOTS [KEY VALUE ...]"
METHOD=$1; DATASET=$2; SHOTS=$3; shift 3
require_dataset "$DATASET"; require_shots "$SHOTS"
INFO=$("$PYTHON" -m ramt.methods show "$METHOD") || exit 2
read -r TRAINER CONFIG <<< "$INFO"
CFG=$(basename "$CONFIG" .yaml)
case "$CONFIG" in
  *.yaml) ;;  # a config file: used as given
  */*) CFG=$(recipe_config "$(dirname "$CONFIG")" "$DATASET" "$CFG"); CONFIG="$(dirname "$CONFIG")/${CFG}" ;;  # the dataset's own recipe (Digits)
esac
BTAG=$(backbone_tag "$@")
for SEED in $SEEDS; do
  SOURCE="${OUTPUT}/${DATASET}/RAMT/${BTAG}_${SHOTS}shots/seed${SEED}"
  if ! is_finished "$SOURCE"; then
    echo "Stage 1: R-AMT run ${SOURCE} is not finished; training it first"
    EXP= SEEDS="$SEED" bash scripts/ramt/main.sh "$DATASET" "$SHOTS" "$@"
  fi
  run_train "${OUTPUT}/${DATASET}/${TRAINER}/$(tagged "$CFG" "$BTAG")_${SHOTS}shots/seed${SEED}" -- \
    --seed "$SEED" --trainer "$TRAINER" \
    --dataset-config-file "configs/datasets/${DATASET}.yaml" \
    --config-file "$CONFIG" \
    DATASET.NUM_SHOTS "$SHOTS" MASK.SOURCE_RUN "$SOURCE" "$@"
done
