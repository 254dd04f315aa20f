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
for SEED in $SEEDS; do
  run_method tip_adapter_ramt "$DATASET" "$SHOTS" "$SEED" "$@"
done
