#!/usr/bin/env bash
# Evaluate finished R-AMT runs (their bit-packed masks) on a dataset, seeds $SEEDS.
#   bash scripts/ramt/eval.sh SOURCE_DATASET SHOTS [TARGET_DATASET] [KEY VALUE ...]
# TARGET_DATASET defaults to SOURCE_DATASET. The mask file recorded by each source run is loaded
# (no epoch guessing). Output: $OUTPUT/evaluation/RAMT/<tag>_<SHOTS>shots/<TARGET>/seed<S>/
# (parse with --test-log).
# Folders and arguments: the method registry (python -m ramt.methods evaluation ramt SOURCE SHOTS SEED TARGET).
source "$(dirname "$0")/../common.sh"
[ $# -ge 2 ] || die "usage: bash scripts/ramt/eval.sh SOURCE_DATASET SHOTS [TARGET_DATASET] [KEY VALUE ...]"
SOURCE=$1; SHOTS=$2; shift 2
TARGET=$SOURCE
if [ $# -ge 1 ] && [[ "$1" != *.* ]]; then TARGET=$1; shift; fi
require_dataset "$SOURCE"; require_dataset "$TARGET"; require_shots "$SHOTS"
for SEED in $SEEDS; do
  run_evaluation ramt "$SOURCE" "$SHOTS" "$SEED" "$TARGET" "$@"
done
