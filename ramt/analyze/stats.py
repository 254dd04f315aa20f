"""Pure statistics over binary masks (``True`` = weight kept, ``False`` = masked out).

Parts of a block: the packed attention in-projection ``attn.in_proj_weight`` (3W x W) is split
into its query, key and value rows (``q``, ``k``, ``v``: rows ``[0, W)``, ``[W, 2W)``,
``[2W, 3W)``, as ``torch.nn.MultiheadAttention`` uses them); ``out_proj`` is
``attn.out_proj.weight``; ``mlp_fc`` / ``mlp_proj`` are ``mlp.c_fc.weight`` / ``mlp.c_proj.weight``;
``conv1`` is the patch embedding (block ``-1``).

Heads: head ``h`` of ``q``/``k``/``v`` owns rows ``[h*d, (h+1)*d)`` of its part (``d`` = head
width); head ``h`` of ``out_proj`` owns its input columns ``[h*d, (h+1)*d)``.

The *masked ratio* is the percentage of entries set to 0. The Jaccard overlap of two mask sets
compares the sets of masked-out entries: ``|Z_a & Z_b| / |Z_a | Z_b|`` (NaN when neither masks
anything; only defined for the same tensors and shapes).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import numpy as np

__all__ = [
    "ATTENTION_PARTS",
    "PARTS",
    "head_rows",
    "jaccard_counts",
    "packed_zero_set",
    "split_parts",
    "tensor_rows",
]

PARTS: tuple[str, ...] = ("conv1", "q", "k", "v", "out_proj", "mlp_fc", "mlp_proj")
ATTENTION_PARTS: tuple[str, ...] = ("q", "k", "v", "out_proj")
_BLOCK = re.compile(r"^transformer\.resblocks\.(\d+)\.(.+)$")
_SUFFIX_PART = {
    "attn.out_proj.weight": "out_proj",
    "mlp.c_fc.weight": "mlp_fc",
    "mlp.c_proj.weight": "mlp_proj",
}


def split_parts(name: str, mask: np.ndarray) -> list[tuple[int, str, np.ndarray]]:
    """``[(block, part, sub-mask)]`` of one masked weight (block -1 for ``conv1``)."""
    if name == "conv1.weight":
        return [(-1, "conv1", mask)]
    m = _BLOCK.match(name)
    if not m:
        raise ValueError(f"{name!r} is not a maskable image-encoder weight.")
    block, suffix = int(m.group(1)), m.group(2)
    if suffix == "attn.in_proj_weight":
        if mask.ndim != 2 or mask.shape[0] % 3:
            raise ValueError(f"{name}: expected a (3W, W) in-projection mask, got shape {mask.shape}.")
        w = mask.shape[0] // 3
        return [(block, p, mask[i * w : (i + 1) * w]) for i, p in enumerate(("q", "k", "v"))]
    if suffix in _SUFFIX_PART:
        return [(block, _SUFFIX_PART[suffix], mask)]
    raise ValueError(f"{name!r} is not a maskable image-encoder weight.")


def _ratio(zeros: int, total: int) -> float:
    return 100.0 * zeros / total if total else float("nan")


def tensor_rows(masks: Mapping[str, np.ndarray]) -> list[dict]:
    """One row per (block, part): ``block``, ``part``, ``zeros``, ``total``, ``masked_pct``."""
    rows = []
    for name, mask in masks.items():
        for block, part, sub in split_parts(name, mask):
            total = int(sub.size)
            zeros = total - int(np.count_nonzero(sub))
            rows.append(
                {
                    "block": block,
                    "part": part,
                    "zeros": zeros,
                    "total": total,
                    "masked_pct": _ratio(zeros, total),
                }
            )
    return rows


def head_rows(masks: Mapping[str, np.ndarray], head_width: int) -> list[dict]:
    """One row per (block, attention part, head): ``block``, ``part``, ``head``, ``zeros``, ``total``,
    ``masked_pct``."""
    rows = []
    for name, mask in masks.items():
        for block, part, sub in split_parts(name, mask):
            if part not in ATTENTION_PARTS:
                continue
            width = sub.shape[1] if part == "out_proj" else sub.shape[0]
            if width % head_width:
                raise ValueError(
                    f"{name} ({part}): width {width} is not a multiple of the head width {head_width}; "
                    "pass the encoder's head width (--head-width)."
                )
            heads = width // head_width
            if part == "out_proj":  # heads own input columns
                per_head = sub.reshape(sub.shape[0], heads, head_width).transpose(1, 0, 2)
            else:  # heads own output rows
                per_head = sub.reshape(heads, head_width, sub.shape[1])
            kept = per_head.reshape(heads, -1).sum(axis=1)
            total = per_head[0].size
            for h in range(heads):
                zeros = total - int(kept[h])
                rows.append(
                    {
                        "block": block,
                        "part": part,
                        "head": h,
                        "zeros": zeros,
                        "total": total,
                        "masked_pct": _ratio(zeros, total),
                    }
                )
    return rows


def packed_zero_set(masks: Mapping[str, np.ndarray], order: Sequence[str] | None = None) -> np.ndarray:
    """The masked-out entries of all tensors (in ``order``), concatenated and bit-packed."""
    order = list(order) if order is not None else list(masks)
    flat = np.concatenate([np.asarray(masks[n], dtype=bool).reshape(-1) for n in order])
    return np.packbits(~flat)


if hasattr(np, "bitwise_count"):

    def _popcount(a: np.ndarray) -> int:
        return int(np.bitwise_count(a).sum(dtype=np.int64))

else:  # numpy < 2.0
    _POP = np.array([bin(i).count("1") for i in range(256)], dtype=np.int64)

    def _popcount(a: np.ndarray) -> int:
        return int(_POP[a].sum())


def jaccard_counts(zeros_a: np.ndarray, zeros_b: np.ndarray) -> tuple[int, int, float]:
    """``(intersection, union, jaccard)`` of two packed zero sets of the same layout."""
    if zeros_a.shape != zeros_b.shape:
        raise ValueError(
            f"Mask sets of different sizes ({zeros_a.size} vs {zeros_b.size} bytes) cannot be compared."
        )
    inter = _popcount(np.bitwise_and(zeros_a, zeros_b))
    union = _popcount(np.bitwise_or(zeros_a, zeros_b))
    return inter, union, (inter / union if union else float("nan"))
