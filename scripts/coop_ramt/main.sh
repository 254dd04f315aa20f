#!/usr/bin/env bash
# CoOp + R-AMT (project reconstruction), seeds $SEEDS (default 1 2 3).
#   bash scripts/coop_ramt/main.sh DATASET SHOTS [KEY VALUE ...]
# Two-stage (default): reuse the R-AMT run $OUTPUT/<DATASET>/RAMT/<tag>_<SHOTS>shots/seed<S> (trained
# first with scripts/ramt/main.sh and the same extra options when it is not finished), then run CoOp
# unchanged on the folded encoder. With "COMBO.MODE joint" among the options, masks and context are
# trained together in one run (no R-AMT stage; folder tag gets "_joint").
# Output: $OUTPUT/<DATASET>/CoOpRAMT/<cfg>_<SHOTS>shots/nctx<N>_csc<Bool>_ctp<pos>/seed<S>/
# (NCTX, CSC, CTP as in scripts/coop/main.sh; folders: python -m ramt.methods run-dir coop_ramt ...).
source "$(dirname "$0")/../common.sh"
[ $# -ge 2 ] || die "usage: bash scripts/coop_ramt/main.sh DATASET SHOTS [KEY VALUE ...]"
DATASET=$1; SHOTS=$2; shift 2
require_dataset "$DATASET"; require_shots "$SHOTS"
for SEED in $SEEDS; do
  run_method coop_ramt "$DATASET" "$SHOTS" "$SEED" "$@"
done
