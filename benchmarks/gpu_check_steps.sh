#!/usr/bin/env bash
# One-shot GPU run of the speed benchmarks and the GPU-only numerical checks (~7 minutes).
#
#   bash benchmarks/gpu_check_steps.sh          # CUDA, ViT-B/16 random weights, batch 32
#   bash benchmarks/gpu_check_steps.sh --cpu    # the same script path on the CPU with `tiny` (smoke test)
#
# Everything (JSON, logs) goes under $OUT (default ./gpu_check_out). Each stage has its own
# timeout, and a failed stage does not stop the later ones; the exit status is that of the
# numerical checks.
set -u
cd "$(dirname "$0")/.."
OUT="${OUT:-$PWD/gpu_check_out}"
mkdir -p "$OUT"
export RAMT_OFFLINE=1
export PYTHONUNBUFFERED=1
export TORCHINDUCTOR_CACHE_DIR="${TORCHINDUCTOR_CACHE_DIR:-/tmp/ramt-inductor-cache}"
START=$SECONDS
log() { echo "[gpu_check +$((SECONDS - START))s] $*" | tee -a "$OUT/gpu_check.log"; }

if [ "${1:-}" = "--cpu" ]; then
    DEVICE=cpu; BACKBONE=tiny; BATCH=2; STEPS=2; WARMUP=1; CLASSES=10
    COMPILE_ARGS=(--compile-backend aot_eager)
    CHECK_ARGS=(--compile --compile-backend aot_eager)
    EAGER_CASES=zsclip,coop100,ramt,tipf
    T_CHECK=300; T_EAGER=300; T_COMPILE=300; T_RO=0
else
    DEVICE=cuda; BACKBONE=ViT-B/16; BATCH=32; STEPS=20; WARMUP=5; CLASSES=100
    COMPILE_ARGS=()
    CHECK_ARGS=()
    EAGER_CASES=zsclip,coop100,coop1000,coop100_lean,coop1000_lean,ramt,tipf
    T_CHECK=90; T_EAGER=180; T_COMPILE=150; T_RO=60
fi

# ---------------------------------------------------------------- environment
if ! python -c "import torch, open_clip, yacs" >/dev/null 2>&1; then
    log "torch/open_clip/yacs missing: pip install -q -r requirements.txt"
    if ! timeout 240 pip install -q -r requirements.txt >"$OUT/pip.log" 2>&1; then
        log "ERROR: pip install failed (no package index reachable?). See $OUT/pip.log."
        log "Install torch, open_clip_torch and yacs, then rerun: bash benchmarks/gpu_check_steps.sh"
        exit 2
    fi
fi
python - <<'EOF' 2>&1 | tee -a "$OUT/gpu_check.log"
import torch, open_clip
print("torch", torch.__version__, "| open_clip", open_clip.__version__, "| cuda", torch.version.cuda,
      "| available", torch.cuda.is_available(), "|", torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu")
EOF
if [ "$DEVICE" = cuda ]; then
    nvidia-smi >"$OUT/nvidia-smi.txt" 2>&1 || true
    if ! python -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
        log "ERROR: CUDA is not available to torch; nothing to measure."
        exit 3
    fi
fi

# ---------------------------------------------------------------- 1. numerical checks
log "1/4 numerical checks (bf16 fast path vs fp32 reference, fused Adam)"
timeout "$T_CHECK" python benchmarks/gpu_checks.py --device "$DEVICE" --backbone "$BACKBONE" --batch "$BATCH" \
    --classes "$CLASSES" "${CHECK_ARGS[@]}" --out "$OUT/gpu_checks.json" 2>&1 | tee "$OUT/gpu_checks.log"
CHECK_RC=${PIPESTATUS[0]}
log "checks exit status $CHECK_RC"

# ---------------------------------------------------------------- 2. eager: fast vs reference
log "2/4 bench eager, fast vs reference: $EAGER_CASES"
timeout "$T_EAGER" python benchmarks/bench_step.py --device "$DEVICE" --backbone "$BACKBONE" --batch "$BATCH" \
    --steps "$STEPS" --warmup "$WARMUP" --cases "$EAGER_CASES" --modes fast,reference --compile off \
    --out "$OUT/bench_eager.json" 2>&1 | tee "$OUT/bench_eager.log"
log "eager bench exit status ${PIPESTATUS[0]}"

# ---------------------------------------------------------------- 3. torch.compile (default mode)
log "3/4 bench torch.compile (fast path): ramt, zsclip"
timeout "$T_COMPILE" python benchmarks/bench_step.py --device "$DEVICE" --backbone "$BACKBONE" --batch "$BATCH" \
    --steps "$STEPS" --warmup "$WARMUP" --cases ramt,zsclip --modes fast --compile on "${COMPILE_ARGS[@]}" \
    --out "$OUT/bench_compile.json" 2>&1 | tee "$OUT/bench_compile.log"
log "compile bench exit status ${PIPESTATUS[0]}"

# ---------------------------------------------------------------- 4. CUDA graphs for inference
if [ "$T_RO" -gt 0 ] && [ $((SECONDS - START)) -lt 300 ]; then
    log "4/4 bench zsclip inference with torch.compile mode=reduce-overhead (CUDA graphs)"
    timeout "$T_RO" python benchmarks/bench_step.py --device "$DEVICE" --backbone "$BACKBONE" --batch "$BATCH" \
        --steps "$STEPS" --warmup "$WARMUP" --cases zsclip --modes fast --compile on --compile-mode reduce-overhead \
        --out "$OUT/bench_reduce_overhead.json" 2>&1 | tee "$OUT/bench_reduce_overhead.log"
    log "reduce-overhead bench exit status ${PIPESTATUS[0]}"
else
    log "4/4 skipped (no time left or CPU mode)"
fi
log "done in $((SECONDS - START)) s; results in $OUT"
exit "$CHECK_RC"
