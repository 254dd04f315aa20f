#!/usr/bin/env bash
# Zero-shot CLIP on one dataset (nothing random: one run, no seed level).
#   bash scripts/zsclip/main.sh DATASET [KEY VALUE ...]
# Output: $OUTPUT/ZeroshotCLIP/vit_b16/<DATASET>/ (parse $OUTPUT/ZeroshotCLIP/vit_b16 with --test-log).
source "$(dirname "$0")/../common.sh"
[ $# -ge 1 ] || die "usage: bash scripts/zsclip/main.sh DATASET [KEY VALUE ...]"
DATASET=$1; shift
require_dataset "$DATASET"
TRAINER=ZeroshotCLIP
run_train "${OUTPUT}/${TRAINER}/vit_b16/${DATASET}" --test-log -- \
  --trainer "$TRAINER" \
  --dataset-config-file "configs/datasets/${DATASET}.yaml" \
  --config-file "configs/trainers/${TRAINER}/vit_b16.yaml" \
  --eval-only "$@"
