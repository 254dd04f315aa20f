#!/usr/bin/env python
"""Time the training step / inference batch of every trainer, fast path vs reference mode.

Synthetic tensors, random weights of the chosen backbone (nothing is downloaded). For each case
and mode it prints ms/step, images/s, peak memory and the reference/fast ratio, and writes JSON.

    python benchmarks/bench_step.py --backbone tiny --device cpu             # CPU smoke (< 2 min)
    python benchmarks/bench_step.py --backbone ViT-B/16 --device cuda --compile both

Cases: ``zsclip`` (inference batch), ``coop100`` / ``coop1000`` (project CoOp trainer),
``coop100_lean`` / ``coop1000_lean`` (benchmark-only lean CoOp step, bf16 text tower too),
``ramt`` (project R-AMT trainer), ``tipf`` (benchmark-only Tip-Adapter-F step). The
combinations are two-stage: an R-AMT run, then CoOp / Tip-Adapter(-F) on the folded encoder,
whose cost is that of plain CLIP, so their steps are the ``ramt`` step plus the ``coop*`` /
``tipf`` step. On the CPU the default cases leave out the ``*_lean`` ones.

Modes: ``fast`` = the project's defaults (bf16 autocast on CUDA, fused attention, teacher
without autograd, text features once, truncated CoOp text, fused Adam on CUDA; ``+compile``
adds ``torch.compile``); ``reference`` = ``SPEED.REFERENCE`` (fp32, unfused math attention,
R-AMT teacher with autograd through a trainable copy, per-tensor gradient dropout, zero-shot
text features recomputed per batch, CoOp text over all 77 tokens).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import platform
import sys
import time
import traceback

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from benchmarks.harness import bench_cfg, classnames, make_trainer, random_clip, synthetic_batch  # noqa: E402
from benchmarks.ministeps import LeanCoOp, MiniTipF  # noqa: E402
from ramt.clip import build_text_classifier, clip_input_size, get_template, normalize  # noqa: E402

ALL_CASES = ("zsclip", "coop100", "coop1000", "coop100_lean", "coop1000_lean", "ramt", "tipf")
CPU_CASES = ("zsclip", "coop100", "coop1000", "ramt", "tipf")
DATASET = "ImageNet"


def _math_attention():
    from torch.nn.attention import SDPBackend, sdpa_kernel

    return sdpa_kernel(SDPBackend.MATH)


def _num_classes(case: str) -> int:
    return 1000 if "1000" in case else 100


def _compile_kwargs(args) -> dict:
    kw = {}
    if args.compile_backend:
        kw["backend"] = args.compile_backend
    if args.compile_mode:
        kw["mode"] = args.compile_mode
    return kw


# ------------------------------------------------------------------------------------ builders
def build_case(case: str, mode: str, compiled: bool, args, device: torch.device):
    """Returns (step callable, impl description)."""
    reference = mode == "reference"
    n = _num_classes(case)
    names = classnames(n)
    clip = random_clip(args.backbone)
    size = clip_input_size(clip)
    batch = synthetic_batch(args.batch, size, n, device)
    img, lab = batch["img"], batch["label"]
    kw = _compile_kwargs(args)

    if case == "zsclip":
        from ramt.trainers.zsclip import ZeroshotCLIP

        if not reference:
            t = make_trainer(
                ZeroshotCLIP, bench_cfg("ZeroshotCLIP", args.backbone, dataset=DATASET), names, device, clip
            )
            if compiled:
                t.encode = torch.compile(t.encode, **kw)
            return (lambda: t.model_inference(img)), "trainers.zsclip.ZeroshotCLIP.model_inference"
        clip = clip.to(device)
        template = get_template(DATASET)
        scale = clip.logit_scale.exp().item()

        @torch.no_grad()
        def ref_step():
            with _math_attention():
                text = build_text_classifier(clip, names, [template], device=device)
                return scale * normalize(clip.encode_image(img)) @ text.t()

        return ref_step, "benchmark: fp32, math attention, text features per batch"

    if case in ("coop100", "coop1000"):
        try:
            from ramt.trainers.coop import CoOp
        except ImportError:
            CoOp = None
        if CoOp is not None:
            # compiled: the project's SPEED.COMPILE path (text tower) plus the image encoder below
            cfg = bench_cfg("CoOp", args.backbone, reference=reference, compile=compiled, dataset=DATASET)
            cfg.TRAINER.COOP.PREC = "fp32"  # fp32 weights; the fast path adds bf16 autocast (SPEED.BF16)
            t = make_trainer(CoOp, cfg, names, device, clip)
            if compiled:
                t.image_encoder = torch.compile(t.image_encoder, **kw)

            def coop_step():
                with _math_attention() if reference else contextlib.nullcontext():
                    return t.forward_backward(batch)

            return coop_step, "trainers.coop.CoOp.forward_backward (PREC fp32)"
        case = case + "_lean"

    if case in ("coop100_lean", "coop1000_lean"):
        m = LeanCoOp(clip, names, device, reference=reference)
        if compiled:
            m.clip.visual = torch.compile(m.clip.visual, **kw)
        return (lambda: m.step(img, lab)), "benchmarks.ministeps.LeanCoOp"

    if case == "ramt":
        from ramt.trainers.ramt import RAMT

        cfg = bench_cfg("RAMT", args.backbone, reference=reference, dataset=DATASET)
        t = make_trainer(RAMT, cfg, names, device, clip)
        if compiled and not t.tuner.compiled:
            t.tuner.compile(**kw)
        return (lambda: t.forward_backward(batch)), "trainers.ramt.RAMT.forward_backward"

    if case == "tipf":
        m = MiniTipF(clip, n, device, reference=reference)
        if compiled:
            m.clip.visual = torch.compile(m.clip.visual, **kw)
        return (lambda: m.step(img, lab)), "benchmarks.ministeps.MiniTipF"

    raise ValueError(f"Unknown case {case!r}; choose from {ALL_CASES}.")


# -------------------------------------------------------------------------------------- timing
def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def time_case(case: str, mode: str, compiled: bool, args, device: torch.device) -> dict:
    rec = {
        "case": case,
        "mode": mode + ("+compile" if compiled else ""),
        "device": device.type,
        "backbone": args.backbone,
        "batch": args.batch,
        "classes": _num_classes(case),
        "steps": args.steps,
        "warmup": args.warmup,
    }
    step = None
    try:
        t_build = time.perf_counter()
        step, impl = build_case(case, mode, compiled, args, device)
        rec["impl"] = impl
        if device.type == "cuda":
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
        t0 = time.perf_counter()
        for i in range(args.warmup):
            torch.manual_seed(i)
            step()
        _sync(device)
        rec["warmup_s"] = round(time.perf_counter() - t0, 3)
        rec["build_s"] = round(t0 - t_build, 3)
        times = []
        _sync(device)
        start = time.perf_counter()
        for i in range(args.steps):
            torch.manual_seed(1000 + i)
            s = time.perf_counter()
            step()
            if args.per_step_sync:
                _sync(device)
                times.append(time.perf_counter() - s)
        _sync(device)
        total = time.perf_counter() - start
        ms = 1000.0 * total / args.steps
        rec["ms_per_step"] = round(ms, 3)
        if times:
            rec["ms_min"] = round(1000.0 * min(times), 3)
        rec["images_per_s"] = round(args.batch / (ms / 1000.0), 1)
        rec["peak_gib"] = (
            round(torch.cuda.max_memory_allocated() / 2**30, 3) if device.type == "cuda" else None
        )
    except Exception as err:  # keep going: one broken case must not lose the others
        rec["error"] = f"{type(err).__name__}: {err}"
        rec["traceback"] = traceback.format_exc(limit=8)
    finally:
        step = None  # free this case's model before the next one is built  # noqa: F841
        if compiled:
            torch._dynamo.reset()
        gc.collect()
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return rec


def add_ratios(results: list[dict]) -> None:
    ref = {r["case"]: r.get("ms_per_step") for r in results if r["mode"] == "reference"}
    for r in results:
        base = ref.get(r["case"])
        if r["mode"] != "reference" and base and r.get("ms_per_step"):
            r["speedup_vs_reference"] = round(base / r["ms_per_step"], 2)


def format_table(results: list[dict]) -> str:
    head = f"{'case':<15}{'mode':<19}{'ms/step':>10}{'min ms':>9}{'images/s':>11}{'peak GiB':>10}{'ref/fast':>10}  note"
    lines = [head, "-" * len(head)]
    for r in results:
        if "error" in r:
            lines.append(f"{r['case']:<15}{r['mode']:<19}{'error':>10}  {r['error'][:90]}")
            continue
        peak = f"{r['peak_gib']:.2f}" if r.get("peak_gib") is not None else "-"
        ratio = f"{r['speedup_vs_reference']:.2f}x" if r.get("speedup_vs_reference") else "-"
        note = "" if r["impl"].startswith("trainers.") else "benchmark-only step"
        mn = f"{r['ms_min']:.1f}" if r.get("ms_min") is not None else "-"
        lines.append(
            f"{r['case']:<15}{r['mode']:<19}{r['ms_per_step']:>10.1f}{mn:>9}{r['images_per_s']:>11.1f}{peak:>10}{ratio:>10}  {note}"
        )
    return "\n".join(lines)


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{platform.processor() or platform.machine()} ({os.cpu_count()} CPUs, {torch.get_num_threads()} threads)"


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--backbone", default="tiny", help="tiny, ViT-B/16, ViT-B/32, ... (random weights)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--cases", default="", help=f"comma list from {ALL_CASES} (default all; CPU: {CPU_CASES})")
    p.add_argument("--modes", default="fast,reference")
    p.add_argument(
        "--compile", choices=("off", "on", "both"), default="off", help="fast path with torch.compile"
    )
    p.add_argument("--compile-backend", default="", help="torch.compile backend (default inductor)")
    p.add_argument("--compile-mode", default="", help="torch.compile mode, e.g. max-autotune-no-cudagraphs")
    p.add_argument("--batch", type=int, default=None, help="default 32 on CUDA, 8 on CPU")
    p.add_argument("--steps", type=int, default=None, help="timed steps (default 20 on CUDA, 2 on CPU)")
    p.add_argument("--warmup", type=int, default=None, help="warm-up steps (default 5 on CUDA, 1 on CPU)")
    p.add_argument("--per-step-sync", action="store_true", help="also record the fastest single step")
    p.add_argument(
        "--out", default="", help="JSON path (default benchmarks/results/bench-<backbone>-<device>.json)"
    )
    args = p.parse_args(argv)

    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda but CUDA is not available")
    cpu = device.type == "cpu"
    args.batch = args.batch or (8 if cpu else 32)
    args.steps = args.steps or (2 if cpu else 20)
    args.warmup = args.warmup if args.warmup is not None else (1 if cpu else 5)
    cases = [
        c.strip() for c in (args.cases or ",".join(CPU_CASES if cpu else ALL_CASES)).split(",") if c.strip()
    ]
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    for c in cases:
        if c not in ALL_CASES:
            p.error(f"unknown case {c!r}; choose from {ALL_CASES}")
    os.environ.setdefault("RAMT_OFFLINE", "1")

    print(
        f"device: {device_name(device)} | torch {torch.__version__} | backbone {args.backbone} (random weights)"
    )
    print(f"batch {args.batch}, {args.warmup} warm-up + {args.steps} timed steps", flush=True)
    results = []
    for case in cases:
        runs = []
        if "fast" in modes and args.compile in ("off", "both"):
            runs.append(("fast", False))
        if "fast" in modes and args.compile in ("on", "both"):
            runs.append(("fast", True))
        if "reference" in modes:
            runs.append(("reference", False))
        for mode, compiled in runs:
            rec = time_case(case, mode, compiled, args, device)
            if (
                "error" in rec
                and isinstance(rec["error"], str)
                and rec["error"].startswith("ModuleNotFoundError")
            ):
                rec["skipped"] = True
            results.append(rec)
            msg = (
                rec.get("error")
                or f"{rec['ms_per_step']:.1f} ms/step ({rec['build_s']:.1f} s build, {rec['warmup_s']:.1f} s warm-up)"
            )
            print(f"  {case:<15} {rec['mode']:<18} {msg}", flush=True)
    add_ratios(results)
    print()
    print(format_table(results))
    payload = {
        "device": device_name(device),
        "torch": torch.__version__,
        "backbone": args.backbone,
        "batch": args.batch,
        "steps": args.steps,
        "warmup": args.warmup,
        "compile_backend": args.compile_backend or "inductor",
        "compile_mode": args.compile_mode or "default",
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "results": results,
    }
    out = args.out or os.path.join(
        ROOT, "benchmarks", "results", f"bench-{args.backbone.replace('/', '')}-{device.type}.json"
    )
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out, "w") as f:
        json.dump(payload, f, indent=1)
    print(f"\nwrote {out}")
    return payload


if __name__ == "__main__":
    main()
