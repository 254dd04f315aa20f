#!/usr/bin/env bash
# UPT few-shot training (project reconstruction, docs/BASELINES.md), seeds $SEEDS (default 1 2 3).
#   bash scripts/upt/main.sh DATASET SHOTS [KEY VALUE ...]
# Output: $OUTPUT/<DATASET>/UPT/<cfg>_<SHOTS>shots/seed<S>/, where <cfg> is vit_b16 (digits_vit_b16 for the
# Digits toy recipe) with vit_b16 replaced by the backbone's folder tag (tiny, ...). Parse with parse_test_res.py.
# Folders and config: the method registry (python -m ramt.methods run-dir upt DATASET SHOTS SEED).
source "$(dirname "$0")/../common.sh"
[ $# -ge 2 ] || die "usage: bash scripts/upt/main.sh DATASET SHOTS [KEY VALUE ...]"
DATASET=$1; SHOTS=$2; shift 2
require_dataset "$DATASET"; require_shots "$SHOTS"
for SEED in $SEEDS; do
  run_method upt "$DATASET" "$SHOTS" "$SEED" "$@"
done
