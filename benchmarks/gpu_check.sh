#!/usr/bin/env bash
# One-shot GPU run of the sweep-level speed targets (~12 minutes on one H100/H200, 16 cores):
#
#   1. benchmarks/bench_sweep.py on CUDA, random ViT-B/16, torch.compile (reduce-overhead):
#      CoOp step at 100 and 1000 classes (target: 1000 classes <= 30 ms), the R-AMT step, the
#      evaluation cost per image, the setup per job in worker mode, and the extrapolated wall
#      time of the full 16-shot table (target: <= 75 min);
#   2. R-AMT 16-shot ImageNet end to end through scripts/ramt/main.sh: 10 epochs of 16,000
#      synthetic JPEGs at ImageNet sizes and the 50,000-image test, random ViT-B/16, wall clock
#      including data loading and the image-cache builds (target: <= 4 min). The synthetic
#      JPEGs are written first and not counted.
#
#   bash benchmarks/gpu_check.sh          # CUDA, both stages (~12 minutes)
#   STAGES=imagenet bash benchmarks/gpu_check.sh   # one stage (sweep: ~6 min, imagenet: ~5 min)
#   bash benchmarks/gpu_check.sh --cpu    # the same stages on the CPU with `tiny`, tiny sizes (smoke test)
#
# Everything goes under $OUT (default ./gpu_check_out); each stage has its own timeout, and a
# failed stage does not stop the next. The step-level benchmarks and numerical checks of the
# earlier GPU run are benchmarks/gpu_check_steps.sh.
set -u
cd "$(dirname "$0")/.."
OUT="${OUT:-$PWD/gpu_check_out}"
WORK="${WORK:-${TMPDIR:-/tmp}/ramt-gpu-check}"
mkdir -p "$OUT" "$WORK"
export RAMT_OFFLINE=1
export PYTHONUNBUFFERED=1
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export RAMT_CACHE_DIR="$WORK/cache"
STAGES="${STAGES:-sweep imagenet}"
START=$SECONDS
log() { echo "[gpu_check +$((SECONDS - START))s] $*" | tee -a "$OUT/gpu_check.log"; }

if [ "${1:-}" = "--cpu" ]; then
    DEVICE=cpu; BACKBONE=tiny
    SWEEP_ARGS=(--datasets caltech101 --classes 5 --test-per-class 4 --shots 2 --seeds 1 --epochs 1
                --coop-cases coop100,coop1000 --coop-steps 1 --skip-separate)
    IN_CLASSES=10; IN_TRAIN=20; IN_TEST=4; IN_OPTS=(MODEL.BACKBONE.NAME tiny OPTIM.MAX_EPOCH 1 DATALOADER.NUM_WORKERS 2)
    T_SWEEP=420; T_IMAGENET=300
else
    DEVICE=cuda; BACKBONE=ViT-B/16
    SWEEP_ARGS=(--datasets caltech101 --classes 100 --test-per-class 25 --shots 16 --seeds 1,2 --epochs 2
                --compile --skip-separate)
    IN_CLASSES=1000; IN_TRAIN=20; IN_TEST=50
    T_SWEEP=390; T_IMAGENET=330
fi

# ---------------------------------------------------------------- environment
if ! python -c "import torch, open_clip, yacs" >/dev/null 2>&1; then
    log "torch/open_clip/yacs missing: pip install -q -r requirements.txt"
    if ! timeout 240 pip install -q -r requirements.txt >"$OUT/pip.log" 2>&1; then
        log "ERROR: pip install failed (no package index reachable?). See $OUT/pip.log."
        exit 2
    fi
fi
python - <<'EOF' 2>&1 | tee -a "$OUT/gpu_check.log"
import os, torch, open_clip
print("torch", torch.__version__, "| open_clip", open_clip.__version__, "| cuda", torch.version.cuda,
      "| available", torch.cuda.is_available(), "|", torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
      "|", os.cpu_count(), "CPUs")
EOF
if [ "$DEVICE" = cuda ]; then
    nvidia-smi >"$OUT/nvidia-smi.txt" 2>&1 || true
    if ! python -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
        log "ERROR: CUDA is not available to torch; nothing to measure."
        exit 3
    fi
fi

# ---------------------------------------------------------------- 1. small sweep + extrapolation
SWEEP_RC=0; IN_RC=0
if [[ " $STAGES " == *" sweep "* ]]; then
log "1/2 bench_sweep ($BACKBONE on $DEVICE): CoOp 100/1000-class step, R-AMT step, eval, setup, extrapolated table"
timeout "$T_SWEEP" python benchmarks/bench_sweep.py --device "$DEVICE" --backbone "$BACKBONE" "${SWEEP_ARGS[@]}" \
    --work "$WORK/sweep" --out "$OUT/bench_sweep.json" 2>&1 | tee "$OUT/bench_sweep.log"
SWEEP_RC=${PIPESTATUS[0]}
log "bench_sweep exit status $SWEEP_RC"
fi

# ---------------------------------------------------------------- 2. R-AMT 16-shot ImageNet end to end
if [[ " $STAGES " == *" imagenet "* ]]; then
log "2/2 R-AMT 16-shot ImageNet (synthetic JPEGs, $IN_CLASSES classes, random $BACKBONE)"
python benchmarks/synthetic_data.py "$WORK/data" imagenet --classes "$IN_CLASSES" --train "$IN_TRAIN" \
    --test "$IN_TEST" 2>&1 | tee -a "$OUT/gpu_check.log"
if [ "$DEVICE" = cuda ]; then
    CKPT="$WORK/random-ViT-B-16.pt"
    [ -f "$CKPT" ] || python -c "
import sys; from benchmarks.harness import random_clip; from ramt.clip import save_openai_checkpoint
save_openai_checkpoint(random_clip('ViT-B/16'), sys.argv[1])" "$CKPT"
    IN_OPTS=(MODEL.BACKBONE.NAME "" MODEL.BACKBONE.PATH "$CKPT" SPEED.COMPILE True SPEED.COMPILE_MODE reduce-overhead
             DATALOADER.NUM_WORKERS "$(nproc)")
fi
rm -rf "$WORK/out-imagenet"
T0=$SECONDS
SEEDS=1 DATA="$WORK/data" OUTPUT="$WORK/out-imagenet" timeout "$T_IMAGENET" \
    bash scripts/ramt/main.sh imagenet 16 TRAIN.PRINT_FREQ 100 "${IN_OPTS[@]}" >"$OUT/imagenet_ramt.log" 2>&1
IN_RC=$?
IN_WALL=$((SECONDS - T0))
tail -n 30 "$OUT/imagenet_ramt.log"
cp "$WORK"/out-imagenet/imagenet/RAMT/*_16shots/seed1/results.json "$OUT/imagenet_results.json" 2>/dev/null || true
log "R-AMT 16-shot ImageNet: exit status $IN_RC, wall clock ${IN_WALL} s including data (target <= 240 s on CUDA)"
python - "$OUT/imagenet_results.json" <<'EOF' 2>&1 | tee -a "$OUT/gpu_check.log"
import json, sys
try:
    t = json.load(open(sys.argv[1]))["timing"]
    print("ImageNet run timing (s):", ", ".join(f"{k} {v}" for k, v in t.items()))
except Exception as e:
    print("no results.json:", e)
EOF
fi
grep -E "^(worker mode|cached evaluation|extrapolated|  [0-9]+ classes:)" "$OUT/bench_sweep.log" 2>/dev/null | tee -a "$OUT/gpu_check.log"
log "done in $((SECONDS - START)) s; results in $OUT"
[ "$SWEEP_RC" -eq 0 ] && [ "$IN_RC" -eq 0 ]
