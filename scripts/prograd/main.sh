#!/usr/bin/env bash
# ProGrad few-shot training (CoOp + projected gradient), seeds $SEEDS (default 1 2 3).
#   bash scripts/prograd/main.sh DATASET SHOTS [KEY VALUE ...]
# Output: $OUTPUT/<DATASET>/ProGrad/<cfg>_<SHOTS>shots/nctx<N>_csc<Bool>_ctp<pos>/seed<S>/, where <cfg> is
# the config used: vit_b16_ep50 (1 shot, ImageNet), vit_b16_ep100 (2/4 shots), vit_b16 (8/16 shots), with
# vit_b16 replaced by the backbone's folder tag for other backbones (tiny_ep100, ...).
# Context options: NCTX (16), CSC (False), CTP (end: end/middle/front) from the environment.
# Parse with parse_test_res.py on the nctx... folder.
# Folders and config: the method registry (python -m ramt.methods run-dir prograd DATASET SHOTS SEED).
source "$(dirname "$0")/../common.sh"
[ $# -ge 2 ] || die "usage: bash scripts/prograd/main.sh DATASET SHOTS [KEY VALUE ...]"
DATASET=$1; SHOTS=$2; shift 2
require_dataset "$DATASET"; require_shots "$SHOTS"
for SEED in $SEEDS; do
  run_method prograd "$DATASET" "$SHOTS" "$SEED" "$@"
done
