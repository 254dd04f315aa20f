#!/usr/bin/env bash
# Domain generalisation: 16-shot ImageNet R-AMT masks evaluated on ImageNet-V2/Sketch/A/R.
#   bash scripts/ramt/xd_eval.sh [KEY VALUE ...]
# Needs the finished runs of `bash scripts/ramt/main.sh imagenet 16`.
# Output: $OUTPUT/evaluation/RAMT/<tag>_16shots/<target>/seed<S>/ (parse with --test-log).
source "$(dirname "$0")/../common.sh"
for TARGET in imagenetv2 imagenet_sketch imagenet_a imagenet_r; do
  bash scripts/ramt/eval.sh imagenet 16 "$TARGET" "$@"
done
