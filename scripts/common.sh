# Shared helpers for the runner scripts (sourced, not executed).
#   DATA    dataset root           (default ./data; Digits is generated there on first use)
#   OUTPUT  output root            (default ./output)
#   SEEDS   seeds to run           (default "1 2 3")
#   PYTHON  interpreter            (default python)
#   PROTOCOL Tip-Adapter selection protocol (default "default"; "official": Tip-Adapter's own
#            choices, which use test data; see docs/METHODS.md)
#   RAMT_PLAN_FILE  (set by python -m ramt.worker) record the train.py calls instead of running them
set -euo pipefail

ROOT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT_DIR"
DATA="${DATA:-./data}"
OUTPUT="${OUTPUT:-./output}"
SEEDS="${SEEDS:-1 2 3}"
PYTHON="${PYTHON:-python}"
PROTOCOL="${PROTOCOL:-default}"

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
  if [ ! -f "configs/datasets/${name}.yaml" ]; then
    local known
    known=$(ls configs/datasets | sed 's/\.yaml$//' | tr '\n' ' ')
    die "unknown dataset '${name}': there is no configs/datasets/${name}.yaml. Known datasets: ${known}"
  fi
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

# recipe_config TRAINER DATASET DEFAULT: the config stem to use. A dataset with its own recipe
# (configs/trainers/<TRAINER>/<DATASET>_vit_b16.yaml: R-AMT's ImageNet recipe, the Digits toy
# recipes) gets it; every other dataset gets DEFAULT.
recipe_config() {
  if [ -f "configs/trainers/$1/$2_vit_b16.yaml" ]; then echo "$2_vit_b16"; else echo "$3"; fi
}

# ramt_config DATASET: the R-AMT config stem (imagenet_vit_b16, digits_vit_b16 or vit_b16).
ramt_config() { recipe_config RAMT "$1" vit_b16; }

# coop_config TRAINER DATASET SHOTS: CoOp's epoch-by-shots config (vit_b16_ep50 / _ep100 / vit_b16).
coop_config() {
  recipe_config "$1" "$2" "$("$PYTHON" -c 'import sys
from ramt.methods import DATASET_CONFIG_TO_REGISTRY as R
from ramt.policy import coop_config_name
print(coop_config_name(R.get(sys.argv[1], sys.argv[1]), int(sys.argv[2])))' "$2" "$3")"
}

# tip_finetune VARIANT: TRAINER.TIP.FINETUNE for a Tip-Adapter variant (tip / tipf).
tip_finetune() {
  case "$1" in
    tip)  echo False ;;
    tipf) echo True ;;
    *)    die "unknown Tip-Adapter variant '$1' (use tip or tipf)" ;;
  esac
}

# tip_protocol_opts DATASET VARIANT: the TRAINER.TIP options of $PROTOCOL for a dataset/variant.
#   default:  none (search on the few-shot val split, last Tip-F epoch; no test data touched)
#   official: Tip-Adapter's own code: search on the full val split (on test for ImageNet) and, for
#             Tip-F, the epoch best on test (ramt.selection.official_choice)
tip_protocol_opts() {
  case "$PROTOCOL" in
    default) ;;
    official)
      local search=val
      [ "$1" = imagenet ] && search=test
      echo "TRAINER.TIP.SEARCH_SPLIT $search"
      [ "$2" = tipf ] && echo "TRAINER.TIP.F_EPOCH best_test"
      ;;
    *) die "unknown PROTOCOL '${PROTOCOL}' (use default or official)" ;;
  esac
  return 0
}

# tip_variant_dir VARIANT: the variant's folder name; non-default protocols get their own folder
# (tipf_official), so that such a run is never taken for (or skipped as) a default one.
tip_variant_dir() {
  if [ "$PROTOCOL" = default ]; then echo "$1"; else echo "${1}_${PROTOCOL}"; fi
}

# backbone_tag [KEY VALUE ...]: the run-folder tag of the backbone named by the trailing options
# (MODEL.BACKBONE.NAME / PRETRAINED / PATH; default ViT-B/16 -> vit_b16, tiny -> tiny; see docs/BACKBONES.md).
backbone_tag() { "$PYTHON" -m ramt.clip.backbones tag "$@"; }

# tagged STEM TAG: a config stem with its vit_b16 part replaced by the backbone tag
# (vit_b16_ep50 -> tiny_ep50 for TAG=tiny; unchanged for ViT-B/16).
tagged() { local stem="$1" tag="$2"; echo "${stem/vit_b16/$tag}"; }
