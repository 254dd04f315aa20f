#!/usr/bin/env bash
# linear_probe_ramt: the host on the R-AMT-masked encoder (scripts/combination.sh; bash scripts/linear_probe_ramt/main.sh DATASET SHOTS [KEY VALUE ...]).
exec bash "$(dirname "$0")/../combination.sh" linear_probe_ramt "$@"
