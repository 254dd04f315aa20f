#!/usr/bin/env bash
# upt_ramt: the host on the R-AMT-masked encoder (scripts/combination.sh; bash scripts/upt_ramt/main.sh DATASET SHOTS [KEY VALUE ...]).
exec bash "$(dirname "$0")/../combination.sh" upt_ramt "$@"
