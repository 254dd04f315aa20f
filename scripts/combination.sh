#!/usr/bin/env bash
# A method registered in ramt.methods (typically a two-stage host + R-AMT combination), seeds $SEEDS
# (default 1 2 3).
#   bash scripts/combination.sh METHOD DATASET SHOTS [KEY VALUE ...]
# The runner of a new combination is this one line (scripts/<METHOD>/main.sh):
#   exec bash "$(dirname "$0")/../combination.sh" <METHOD> "$@"
# Reuses the R-AMT run $OUTPUT/<DATASET>/RAMT/<tag>_<SHOTS>shots/seed<S> (trained first with
# scripts/ramt/main.sh and the same extra options when it is not finished), then runs the method's
# trainer with its registered config on the folded encoder (MASK.SOURCE_RUN).
# Output: the method's run-folder rule (python -m ramt.methods run-dir METHOD DATASET SHOTS SEED);
# by default $OUTPUT/<DATASET>/<TRAINER>/<config stem, vit_b16 -> tag>_<SHOTS>shots/seed<S>/, where
# <tag> is the backbone's folder tag (vit_b16 for ViT-B/16, tiny, ...; see docs/BACKBONES.md).
source "$(dirname "$0")/common.sh"
[ $# -ge 3 ] || die "usage: bash scripts/combination.sh METHOD DATASET SHOTS [KEY VALUE ...]"
METHOD=$1; DATASET=$2; SHOTS=$3; shift 3
require_dataset "$DATASET"; require_shots "$SHOTS"
"$PYTHON" -m ramt.methods show "$METHOD" > /dev/null || exit 2
for SEED in $SEEDS; do
  run_method "$METHOD" "$DATASET" "$SHOTS" "$SEED" "$@"
done
