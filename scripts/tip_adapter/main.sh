#!/usr/bin/env bash
# Tip-Adapter (training-free, "tip") and Tip-Adapter-F ("tipf"), seeds $SEEDS (default 1 2 3).
#   bash scripts/tip_adapter/main.sh DATASET SHOTS [KEY VALUE ...]
# Output: $OUTPUT/<DATASET>/TipAdapter/<tag>_<SHOTS>shots/{tip,tipf}/seed<S>/ (parse each variant folder).
# VARIANTS="tip tipf" by default. beta/alpha are searched on the few-shot val split (never on test);
# PROTOCOL=official runs Tip-Adapter's own protocol instead (full val / ImageNet: test search, Tip-F
# epoch best on test; ramt.selection.official_choice) into {tip,tipf}_official/ (see docs/METHODS.md).
# per-dataset settings come from ramt.policy.TIP_SETTINGS for TIP keys left at their defaults.
source "$(dirname "$0")/../common.sh"
[ $# -ge 2 ] || die "usage: bash scripts/tip_adapter/main.sh DATASET SHOTS [KEY VALUE ...]"
DATASET=$1; SHOTS=$2; shift 2
require_dataset "$DATASET"; require_shots "$SHOTS"
for SEED in $SEEDS; do
  run_method tip_adapter "$DATASET" "$SHOTS" "$SEED" "$@"
done
