#!/usr/bin/env python
"""Numerical checks of the fast path that only mean something on a GPU (they also run on CPU).

1. R-AMT: fast path (bf16 autocast on CUDA) vs reference mode (fp32): image features, logits
   and the first GDR mask gradient (same seed, so the same uniform draw) agree within bf16
   tolerance.
2. Fused Adam (CUDA) vs the default Adam on the same gradients: the same masks.
3. Optionally (``--compile``): the compiled R-AMT step vs eager, first mask gradient.

Prints one line per check and writes JSON; exit status 1 if a check fails.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import torch
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from benchmarks.harness import bench_cfg, classnames, make_trainer, random_clip, synthetic_batch  # noqa: E402
from ramt.clip import clip_input_size  # noqa: E402
from ramt.trainers.ramt import RAMT  # noqa: E402


def _cos(a: torch.Tensor, b: torch.Tensor) -> float:
    return F.cosine_similarity(a.flatten().double(), b.flatten().double(), dim=0).item()


def _trainer(args, device, reference: bool, compile: bool = False):
    cfg = bench_cfg("RAMT", args.backbone, reference=reference, compile=compile)
    return make_trainer(RAMT, cfg, classnames(args.classes), device, random_clip(args.backbone))


def check_bf16_vs_fp32(args, device) -> dict:
    fast, ref = _trainer(args, device, False), _trainer(args, device, True)
    size = clip_input_size(fast.clip_model)
    batch = synthetic_batch(args.batch, size, args.classes, device, seed=1)
    x = batch["img"]
    with torch.no_grad():
        with fast.autocast():
            f_fast = fast.tuner.student(x).float()
        with ref.attention_kernels():
            f_ref = ref.tuner.student(x).float()
    z_fast, z_ref = fast.head(f_fast), ref.head(f_ref)
    torch.manual_seed(0)
    fast.forward_backward(batch)
    torch.manual_seed(0)
    ref.forward_backward(batch)
    g_fast, g_ref = fast.tuner.mask_set.flat.grad, ref.tuner.mask_set.flat.grad
    res = {
        "bf16": fast.autocast().__class__.__name__ != "nullcontext",
        "feature_cosine_min": F.cosine_similarity(f_fast, f_ref, dim=-1).min().item(),
        "logits_max_abs_diff": (z_fast - z_ref).abs().max().item(),
        "logits_std": z_ref.std().item(),
        "mask_grad_cosine": _cos(g_fast, g_ref),
        "mask_grad_sign_agreement": (torch.sign(g_fast) == torch.sign(g_ref)).float().mean().item(),
    }
    res["ok"] = (
        res["feature_cosine_min"] > 0.99
        and res["logits_max_abs_diff"] < max(0.5, 0.1 * res["logits_std"])
        and res["mask_grad_cosine"] > 0.95
    )
    return res


def check_fused_adam(args, device) -> dict:
    if device.type != "cuda":
        return {"skipped": "fused Adam is used on CUDA only", "ok": True}
    n = 28_901_376 if args.backbone == "ViT-B/16" else 1_000_000
    g = torch.Generator(device=device).manual_seed(0)
    p1 = torch.nn.Parameter(torch.full((n,), 1e-2, device=device))
    p2 = torch.nn.Parameter(p1.detach().clone())
    o1 = torch.optim.Adam([p1], lr=8e-5)
    o2 = torch.optim.Adam([p2], lr=8e-5, fused=True)
    for _ in range(5):
        grad = torch.randn(n, device=device, generator=g) * 1e-3
        p1.grad, p2.grad = grad.clone(), grad.clone()
        o1.step()
        o2.step()
    diff = (p1 - p2).abs().max().item()
    flips = ((p1 > 5e-3) != (p2 > 5e-3)).sum().item()
    return {"entries": n, "max_abs_diff": diff, "binary_flips": flips, "ok": diff < 1e-6}


def check_compile(args, device) -> dict:
    eager = _trainer(args, device, False)
    comp = _trainer(args, device, False)
    if not comp.tuner.compiled:
        comp.tuner.compile(**({"backend": args.compile_backend} if args.compile_backend else {}))
    size = clip_input_size(eager.clip_model)
    batch = synthetic_batch(args.batch, size, args.classes, device, seed=2)
    t0 = time.perf_counter()
    torch.manual_seed(0)
    comp.forward_backward(batch)
    compile_s = time.perf_counter() - t0
    torch.manual_seed(0)
    eager.forward_backward(batch)
    cos = _cos(comp.tuner.mask_set.flat.grad, eager.tuner.mask_set.flat.grad)
    return {"first_step_s": round(compile_s, 1), "mask_grad_cosine": cos, "ok": cos > 0.99}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--backbone", default="ViT-B/16")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--classes", type=int, default=100)
    p.add_argument("--compile", action="store_true")
    p.add_argument("--compile-backend", default="")
    p.add_argument("--out", default="gpu_checks.json")
    args = p.parse_args(argv)
    os.environ.setdefault("RAMT_OFFLINE", "1")
    device = torch.device(args.device)
    checks = {"bf16_vs_fp32": check_bf16_vs_fp32, "fused_adam": check_fused_adam}
    if args.compile:
        checks["compile_vs_eager"] = check_compile
    results, ok = {}, True
    for name, fn in checks.items():
        try:
            res = fn(args, device)
        except Exception as err:
            res = {"error": f"{type(err).__name__}: {err}", "ok": False}
        results[name] = res
        ok &= bool(res.get("ok"))
        print(f"[{'PASS' if res.get('ok') else 'FAIL'}] {name}: {json.dumps(res)}", flush=True)
    payload = {
        "device": str(device),
        "backbone": args.backbone,
        "torch": torch.__version__,
        "checks": results,
    }
    if device.type == "cuda":
        payload["gpu"] = torch.cuda.get_device_name(device)
    with open(args.out, "w") as f:
        json.dump(payload, f, indent=1)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
