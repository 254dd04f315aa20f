#!/usr/bin/env bash
# Reproduce the paper's few-shot table: every registered method (python -m ramt.methods list) x 11
# datasets x 3 seeds at 16 shots: zero-shot CLIP, R-AMT, AMT (own folder), CoOp, Tip-Adapter(-F),
# VPT-deep, UPT (linear probe, CoCoOp, ProGrad where registered), and each host + R-AMT combination
# (CoOp, Tip-Adapter, VPT-deep, UPT, ...), then write the report (python -m ramt.report OUTPUT --published).
#
#   bash scripts/reproduce_paper.sh --dry-run            # list the jobs, each marked done/crashed/missing
#   bash scripts/reproduce_paper.sh --status             # what is left per method and the GPU time it needs
#   bash scripts/reproduce_paper.sh --all-shots --dry-run # shots 16 8 4 2 1
#   bash scripts/reproduce_paper.sh --gpus 0,1,2,3       # one job per GPU
#   bash scripts/reproduce_paper.sh --slurm --partition gpu --timeout-min 720
#   bash scripts/reproduce_paper.sh --datasets digits --extra "MODEL.BACKBONE.NAME tiny"
#
# Worker mode is on: each dataset's jobs run in one process (per GPU locally, per task on
# Slurm) that loads CLIP, text features, decoded images and compiled code once, with the same
# results as one process per job (docs/SPEED.md). --no-worker runs one process per job.
#
# Resumable: re-run the same command; every runner script skips finished seeds and re-runs
# crashed ones. The other arguments go to `python -m ramt.sweep` (see --help).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ARGS=(--worker)
for a in "$@"; do
  if [ "$a" = "--no-worker" ]; then ARGS=(); fi
done
for a in "$@"; do
  [ "$a" = "--no-worker" ] || ARGS+=("$a")
done
exec "${PYTHON:-python}" -m ramt.sweep "${ARGS[@]}"
