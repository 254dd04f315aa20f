#!/usr/bin/env bash
# vpt_ramt: the host on the R-AMT-masked encoder (scripts/combination.sh; bash scripts/vpt_ramt/main.sh DATASET SHOTS [KEY VALUE ...]).
exec bash "$(dirname "$0")/../combination.sh" vpt_ramt "$@"
