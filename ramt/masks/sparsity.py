"""Mask sparsity report (docs/METHOD_SPEC.md section 9): entries with ``M <= tau`` switch a weight off."""

from __future__ import annotations

from typing import Any

import torch

from .maskset import MaskSet

__all__ = ["sparsity_report", "format_sparsity"]


def _pct(num: int, den: int) -> float:
    return 100.0 * num / den if den > 0 else 0.0


@torch.no_grad()
def sparsity_report(mask_set: MaskSet, visual_params: int, clip_params: int) -> dict[str, Any]:
    """Zero count and percentages against masked entries, visual and CLIP parameter counts.

    Returns ``zeros``, ``total``, ``visual_params``, ``clip_params``, ``sparsity``,
    ``sparsity_visual``, ``sparsity_clip`` (percent) and ``per_tensor``
    (``{name: {"zeros", "total"}}``).
    """
    off = mask_set.flat.detach() <= mask_set.threshold
    counts = torch.stack([seg.sum() for seg in off.split(mask_set.numels)]).tolist()
    per_tensor = {
        n: {"zeros": int(c), "total": int(t)} for n, c, t in zip(mask_set.names, counts, mask_set.numels)
    }
    zeros = int(sum(counts))
    total = mask_set.num_entries
    return {
        "zeros": zeros,
        "total": total,
        "visual_params": int(visual_params),
        "clip_params": int(clip_params),
        "sparsity": _pct(zeros, total),
        "sparsity_visual": _pct(zeros, int(visual_params)),
        "sparsity_clip": _pct(zeros, int(clip_params)),
        "per_tensor": per_tensor,
    }


def format_sparsity(report: dict[str, Any]) -> list[str]:
    """The ``* name: X%`` lines read by the result parser."""
    return [
        "=> mask sparsity",
        f"* zeros: {report['zeros']:,}",
        f"* sparsity: {report['sparsity']:.2f}%",
        f"* sparsity_visual: {report['sparsity_visual']:.2f}%",
        f"* sparsity_clip: {report['sparsity_clip']:.2f}%",
    ]
