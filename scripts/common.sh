# Shared helpers for the runner scripts (sourced, not executed).
#   DATA    dataset root           (default ./data; Digits is generated there on first use)
#   OUTPUT  output root            (default ./output)
#   SEEDS   seeds to run           (default "1 2 3")
#   PYTHON  interpreter            (default python)
#   PROTOCOL Tip-Adapter selection protocol (default "default"; "official": Tip-Adapter's own
#            choices, which use test data; see docs/METHODS.md); read by python -m ramt.methods runs
#   RAMT_PLAN_FILE  (set by python -m ramt.worker) record the train.py calls instead of running them
set -euo pipefail

ROOT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT_DIR"
DATA="${DATA:-./data}"
OUTPUT="${OUTPUT:-./output}"
SEEDS="${SEEDS:-1 2 3}"
PYTHON="${PYTHON:-python}"

die() { echo "ERROR: $*" >&2; exit 2; }

# The command that re-runs (and so resumes) this script, printed by train.py after Ctrl-C.
RAMT_COMMAND="$(printf '%s=%q ' DATA "$DATA" OUTPUT "$OUTPUT" SEEDS "$SEEDS")"
[ -n "${EXP:-}" ] && RAMT_COMMAND+="$(printf 'EXP=%q ' "$EXP")"
RAMT_COMMAND+="$(printf '%q ' bash "$0" "$@")"
export RAMT_COMMAND="${RAMT_COMMAND% }"

# No writes outside OUTPUT (docs/RUNS.md): EXP and dataset names are plain path pieces, and
# train.py refuses a run folder outside RAMT_OUTPUT_ROOT (ramt.utils.paths).
# require_name WHAT VALUE [ALLOW_SLASH]: letters, digits and _ . , + = @ - (no '..', no leading '.').
require_name() {
  local what="$1" value="$2" piece
  local -a pieces=("$value")
  [ -n "${3:-}" ] && IFS=/ read -r -a pieces <<< "$value"
  [ -n "$value" ] || die "${what} is empty: give a plain name"
  for piece in "${pieces[@]}"; do
    if ! [[ "$piece" =~ ^[A-Za-z0-9_][A-Za-z0-9_.,+=@-]*$ ]] || [[ "$piece" == *..* ]]; then
      die "${what} '${value}' is not a plain name: use letters, digits and _ . , + = @ - only (no '..', no leading '.' or '/'), so that its run folder stays inside OUTPUT (${OUTPUT}). Nothing was written."
    fi
  done
}
[ -n "${EXP:-}" ] && require_name EXP "$EXP" allow_slash
export RAMT_OUTPUT_ROOT="$OUTPUT"

# require_dataset NAME: the dataset config must exist.
require_dataset() {
  local name="$1"
  require_name "dataset name" "$name"
  [ -f "configs/datasets/${name}.yaml" ] && return 0
  # Not shipped as a yaml file: a catalogue record (registered by a plugin in $RAMT_PLUGINS) will do.
  "$PYTHON" -c 'import sys
from ramt.catalogue import CATALOGUE
from ramt.methods import load_plugins
load_plugins()
sys.exit(0 if sys.argv[1] in CATALOGUE else 1)' "$name" 2>/dev/null && return 0
  local known
  known=$(ls configs/datasets | sed 's/\.yaml$//' | tr '\n' ' ')
  die "unknown dataset '${name}': there is no configs/datasets/${name}.yaml and no catalogue record of that name (ramt/catalogue.py, or register_dataset in a RAMT_PLUGINS file). Known datasets: ${known}"
}

# require_shots K
require_shots() {
  [[ "$1" =~ ^[0-9]+$ ]] && [ "$1" -ge 1 ] || die "SHOTS must be a positive integer (1, 2, 4, 8 or 16), got '$1'"
}

# is_finished DIR [--test-log] [-- TRAIN_ARGS...]: the run's log.txt holds a result after the end
# signal (ramt.runs); with TRAIN_ARGS, exit 3 (after an ERROR) when DIR holds another experiment.
is_finished() { "$PYTHON" -m ramt.runs is-finished "$@"; }

# run_train DIR [--test-log] -- TRAIN_ARGS...: skip finished runs of the same experiment, (re-)run
# unfinished ones, stop on a folder that holds a different experiment (docs/RUNS.md).
run_train() {
  local dir="$1"; shift
  local mode=()
  if [ "${1:-}" = "--test-log" ]; then mode=(--test-log); shift; fi
  [ "${1:-}" = "--" ] && shift
  local rc=0
  is_finished "$dir" "${mode[@]}" -- --root "$DATA" --output-dir "$dir" "$@" || rc=$?
  case "$rc" in
    0) echo "Skip ${dir}: finished (its log.txt holds a result of the same experiment)"; return 0 ;;
    1) ;;
    *) exit "$rc" ;;
  esac
  if [ -d "$dir" ]; then
    echo "Re-run ${dir}: unfinished (resumes from its last saved epoch when there is one)"
  fi
  if [ -n "${RAMT_PLAN_FILE:-}" ]; then
    # Worker mode (python -m ramt.worker): record the train.py arguments; the worker runs them
    # in its own process. One record: the folder to run in, the NUL-separated arguments, the end marker.
    printf '%s\0' "$ROOT_DIR" --root "$DATA" --output-dir "$dir" "$@" "--ramt-plan-end--" >> "$RAMT_PLAN_FILE"
    return 0
  fi
  echo "Run ${dir}"
  "$PYTHON" train.py --root "$DATA" --output-dir "$dir" "$@"
}

# run_method METHOD DATASET SHOTS SEED [KEY VALUE ...]: every run of one seed of a registered method
# (zero-shot: run_method zsclip DATASET - - [KEY VALUE ...]). The run folders, config files and the
# method's own options come from the method registry (python -m ramt.methods runs; the same rule
# serves the sweep status and the report), never from bash. A run that reuses a finished R-AMT run
# (MASK.SOURCE_RUN) trains that run first (scripts/ramt/main.sh, same options) when it is missing.
run_method() {
  local method="$1" dataset="$2" shots="$3" seed="$4"; shift 4
  local words=("$dataset")
  [ "$shots" = - ] || words+=("$shots" "$seed")
  local plan
  plan=$(OUTPUT="$OUTPUT" "$PYTHON" -m ramt.methods runs "$method" "${words[@]}" "$@") || exit 2
  _run_plan _train_ramt_source "$plan" "$@"
}

# _train_ramt_source SOURCE [KEY VALUE ...]: train the missing R-AMT run a combination reuses (the
# dataset, shots and seed are run_method's locals: bash functions see their caller's locals).
_train_ramt_source() {
  echo "Stage 1: R-AMT run $1 is not finished; training it first"
  shift
  EXP= SEEDS="$seed" bash scripts/ramt/main.sh "$dataset" "$shots" "$@"
}

# backbone_tag [KEY VALUE ...]: the run-folder tag of the backbone named by the trailing options
# (MODEL.BACKBONE.NAME / PRETRAINED / PATH; default ViT-B/16 -> vit_b16, tiny -> tiny; see docs/BACKBONES.md).
backbone_tag() { "$PYTHON" -m ramt.clip.backbones tag "$@"; }

# _run_plan MISSING PLAN [KEY VALUE ...]: run the lines of a plan of python -m ramt.methods (folder,
# --test-log or -, source run or -, train.py arguments); a source run that is not finished is handed
# to the function MISSING (with the options) first.
_run_plan() {
  local missing="$1" plan="$2"; shift 2
  local lines line
  mapfile -t lines <<< "$plan"
  for line in "${lines[@]}"; do
    local run
    IFS=$'\t' read -r -a run <<< "$line"
    local dir="${run[0]}" mode="${run[1]}" source="${run[2]}"
    if [ "$source" != - ] && ! is_finished "$source"; then
      "$missing" "$source" "$@"
    fi
    local test_log=()
    [ "$mode" = - ] || test_log=("$mode")
    run_train "$dir" "${test_log[@]}" -- "${run[@]:3}" "$@"
  done
}

# _no_source SOURCE [...]: stop; the protocol's source run must be trained by its own script
# (WHAT and FIX are the caller's locals).
_no_source() { die "no finished ${what} in $1; ${fix}"; }

# run_base2new METHOD train|eval DATASET SEED [KEY VALUE ...]: one seed of the base-to-new protocol
# (folders and arguments from the method registry: python -m ramt.methods base2new ...).
run_base2new() {
  local method="$1" phase="$2" dataset="$3" seed="$4"; shift 4
  local plan
  plan=$(OUTPUT="$OUTPUT" "$PYTHON" -m ramt.methods base2new "$method" "$phase" "$dataset" "$seed" "$@") || exit 2
  local what="base-class run" fix="run scripts/${method}/base2new_train.sh ${dataset} first"
  _run_plan _no_source "$plan" "$@"
}

# run_evaluation METHOD SOURCE_DATASET SHOTS SEED TARGET [KEY VALUE ...]: a finished run evaluated on
# TARGET (python -m ramt.methods evaluation ...).
run_evaluation() {
  local method="$1" source="$2" shots="$3" seed="$4" target="$5"; shift 5
  local plan
  plan=$(OUTPUT="$OUTPUT" "$PYTHON" -m ramt.methods evaluation "$method" "$source" "$shots" "$seed" "$target" "$@") || exit 2
  local what="R-AMT run" fix="train it first: bash scripts/${method}/main.sh ${source} ${shots}"
  _run_plan _no_source "$plan" "$@"
}
