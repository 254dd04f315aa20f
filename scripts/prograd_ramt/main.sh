#!/usr/bin/env bash
# prograd_ramt: the host on the R-AMT-masked encoder (scripts/combination.sh; bash scripts/prograd_ramt/main.sh DATASET SHOTS [KEY VALUE ...]).
exec bash "$(dirname "$0")/../combination.sh" prograd_ramt "$@"
