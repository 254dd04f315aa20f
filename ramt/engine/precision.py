"""Precision and kernel policy of the fast path and of the reference mode (``cfg.SPEED``).

- bf16 autocast on CUDA when ``SPEED.BF16`` is on; always fp32 on CPU and in reference mode.
- Attention: PyTorch's fused ``scaled_dot_product_attention`` kernels on the fast path; the
  unfused math kernel in reference mode (as the official implementations ran it).
- Optimiser: fused Adam/AdamW on CUDA on the fast path (the same update, one kernel).
"""

from __future__ import annotations

import contextlib

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel


def use_bf16(cfg, device: torch.device) -> bool:
    return device.type == "cuda" and bool(cfg.SPEED.BF16) and not cfg.SPEED.REFERENCE


def autocast(cfg, device: torch.device):
    """bf16 autocast for the frozen encoders on CUDA; a no-op elsewhere."""
    if use_bf16(cfg, device):
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def is_reference(cfg) -> bool:
    return bool(cfg.SPEED.REFERENCE)


def attention_kernels(cfg):
    """Unfused (math) attention in reference mode; PyTorch's default (fused) choice otherwise."""
    if is_reference(cfg):
        return sdpa_kernel(SDPBackend.MATH)
    return contextlib.nullcontext()


def use_compile(cfg, device: torch.device) -> bool:
    """``SPEED.COMPILE`` applies on CUDA only, and never in reference mode."""
    return device.type == "cuda" and bool(cfg.SPEED.COMPILE) and not is_reference(cfg)


def fuse_optimizer(optim: torch.optim.Optimizer, cfg, device: torch.device) -> torch.optim.Optimizer:
    """The same Adam/AdamW with ``fused=True`` on CUDA (fast path); ``optim`` unchanged otherwise.

    Must be called before the first step (the optimiser state is not carried over).
    """
    if device.type != "cuda" or is_reference(cfg) or type(optim) not in (torch.optim.Adam, torch.optim.AdamW):
        return optim
    if optim.state:
        raise ValueError("fuse_optimizer must be called before the first optimiser step.")
    groups = [{k: v for k, v in g.items() if k not in ("foreach", "fused")} for g in optim.param_groups]
    defaults = {k: v for k, v in optim.defaults.items() if k not in ("foreach", "fused")}
    return type(optim)(groups, **{**defaults, "fused": True})


def resolve_precision(cfg, node: str, device: torch.device) -> str:
    """``TRAINER.<node>.PREC`` (fp16 / fp32 / amp), or fp32 with a note where there is no CUDA."""
    prec = cfg.TRAINER[node].PREC
    if device.type != "cuda" and prec != "fp32":
        print(f"Note: TRAINER.{node}.PREC {prec} needs CUDA; running in fp32 on {device.type}")
        return "fp32"
    return prec


def precision_autocast(prec: str, cfg, device: torch.device):
    """Autocast of a prompt method's frozen encoders: fp16 under amp, the fast path's bf16 (SPEED.BF16)
    under fp32, none under fp16 (the weights are already half)."""
    if prec == "amp":
        return torch.autocast("cuda", dtype=torch.float16)
    if prec == "fp32":
        return autocast(cfg, device)
    return contextlib.nullcontext()
