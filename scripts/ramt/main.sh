#!/usr/bin/env bash
# R-AMT few-shot training, seeds $SEEDS (default 1 2 3).
#   bash scripts/ramt/main.sh DATASET SHOTS [KEY VALUE ...]
# Output: $OUTPUT/<DATASET>/RAMT/<tag>_<SHOTS>shots/seed<S>/ (parse with parse_test_res.py), where <tag> is
# the backbone's folder tag: vit_b16 (default ViT-B/16), tiny, vit_b16_laion2b_s34b_b88k, ...
# The GDR lambda comes from the policy table (MASK.GDR_LAMBDA -1.0); pass MASK.GDR_LAMBDA 0.3 to
# override, MASK.GDR False for AMT, MASK.LAYERS "('mlp','conv1')" for R-MMT, "('all',)" for R-PMT
# (give variants their own folder with EXP=..., e.g. EXP=vit_b16_16shots_amt).
# Folders and config: the method registry (python -m ramt.methods run-dir ramt DATASET SHOTS SEED).
source "$(dirname "$0")/../common.sh"
[ $# -ge 2 ] || die "usage: bash scripts/ramt/main.sh DATASET SHOTS [KEY VALUE ...]"
DATASET=$1; SHOTS=$2; shift 2
require_dataset "$DATASET"; require_shots "$SHOTS"
for SEED in $SEEDS; do
  run_method ramt "$DATASET" "$SHOTS" "$SEED" "$@"
done
