#!/usr/bin/env bash
# cocoop_ramt: the host on the R-AMT-masked encoder (scripts/combination.sh; bash scripts/cocoop_ramt/main.sh DATASET SHOTS [KEY VALUE ...]).
exec bash "$(dirname "$0")/../combination.sh" cocoop_ramt "$@"
