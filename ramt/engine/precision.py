"""Autocast policy: bf16 on CUDA when SPEED.BF16 is on; always fp32 on CPU."""

from __future__ import annotations

import contextlib

import torch


def use_bf16(cfg, device: torch.device) -> bool:
    return device.type == "cuda" and bool(cfg.SPEED.BF16) and not cfg.SPEED.REFERENCE


def autocast(cfg, device: torch.device):
    """bf16 autocast for the frozen encoders on CUDA; a no-op elsewhere."""
    if use_bf16(cfg, device):
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()
