"""Bit-packed binary mask checkpoints (docs/METHOD_SPEC.md section 9).

Each binary mask is flattened row-major and packed 8 entries per byte, most significant
bit first, the last byte zero-padded: exactly ``numpy.packbits`` with its default bit order.
The payload holds only tensors, lists, ints, floats and strs, so it loads with
``torch.load(weights_only=True)``.
"""

from __future__ import annotations

from typing import Any

import torch

from .bits import pack_bits, packed_nbytes, unpack_bits
from .maskset import MaskSet, mask_fingerprint
from .selection import official_mask_key, param_name_from_official_key

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "pack_bits",
    "unpack_bits",
    "pack_masks",
    "unpack_masks",
    "load_packed_masks_",
    "load_official_masks_",
    "packed_nbytes",
]

FORMAT = "ramt-binary-masks"
FORMAT_VERSION = 1


def pack_masks(mask_set: MaskSet, backbone: str = "", epoch: int = -1) -> dict[str, Any]:
    """Checkpoint payload with the binary masks of ``mask_set`` (1 bit per entry).

    ``{"format", "version", "backbone", "epoch", "layers", "threshold", "zeros", "total",
    "masks": [{"key", "name", "shape", "bits"}, ...]}`` where ``key`` is the official
    release's mask key and ``bits`` a uint8 tensor.
    """
    binary = mask_set.binary_flat().cpu()
    zeros = int(binary.numel() - int(binary.sum()))
    masks = []
    for name, seg, shape in zip(mask_set.names, binary.split(mask_set.numels), mask_set.shapes):
        masks.append(
            {
                "key": official_mask_key(name),
                "name": name,
                "shape": list(shape),
                "bits": torch.from_numpy(pack_bits(seg)),
            }
        )
    return {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "backbone": str(backbone),
        "epoch": int(epoch),
        "layers": list(mask_set.layers),
        "threshold": float(mask_set.threshold),
        "zeros": zeros,
        "total": int(binary.numel()),
        "masks": masks,
    }


def unpack_masks(payload: dict[str, Any]) -> dict[str, torch.Tensor]:
    """``{param name: bool tensor}`` from a payload made by :func:`pack_masks`."""
    _check_format(payload)
    return {m["name"]: unpack_bits(m["bits"], m["shape"]) for m in payload["masks"]}


def _check_format(payload) -> None:
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(
            "Not an R-AMT binary mask payload (missing format tag "
            f"{FORMAT!r}); was the file written by ramt.masks.pack_masks?"
        )
    if int(payload.get("version", -1)) > FORMAT_VERSION:
        raise ValueError(
            f"Mask payload version {payload['version']} is newer than this code ({FORMAT_VERSION})."
        )


def load_packed_masks_(mask_set: MaskSet, payload: dict[str, Any]) -> MaskSet:
    """Set ``M := B`` (0.0/1.0) from a payload; names and shapes must match ``mask_set``."""
    _check_format(payload)
    entries = payload["masks"]
    got = [(m["name"], tuple(int(s) for s in m["shape"])) for m in entries]
    want = list(zip(mask_set.names, mask_set.shapes))
    if got != want:
        diff = next(((g, w) for g, w in zip(got, want) if g != w), None)
        raise ValueError(
            "Saved masks do not fit this model: "
            f"the checkpoint has {len(got)} masked tensors (layers {payload.get('layers')}, "
            f"backbone {payload.get('backbone') or 'unknown'!r}), this model selects {len(want)} "
            f"(layers {list(mask_set.layers)})"
            + (f"; first difference: saved {diff[0]} vs model {diff[1]}" if diff else "")
            + ". Use the same backbone and MASK.LAYERS as the run that saved them."
        )
    bits = [unpack_bits(m["bits"], m["shape"]).reshape(-1) for m in entries]
    mask_set.set_binary_(torch.cat(bits))
    return mask_set


def load_official_masks_(mask_set: MaskSet, state_dict: dict[str, Any]) -> MaskSet:
    """Load the official release's format: ``{official key: bytes}`` (shapes from ``mask_set``)."""
    by_name = {}
    for key, value in state_dict.items():
        if key.endswith("mask_real"):
            by_name[param_name_from_official_key(key)] = value
    missing = [n for n in mask_set.names if n not in by_name]
    extra = sorted(set(by_name) - set(mask_set.names))
    if missing or extra:
        raise ValueError(
            f"Official mask file does not fit this layer selection: missing {missing[:3]}"
            f"{'...' if len(missing) > 3 else ''}, unexpected {extra[:3]}{'...' if len(extra) > 3 else ''}."
        )
    bits = [unpack_bits(by_name[n], s).reshape(-1) for n, s in zip(mask_set.names, mask_set.shapes)]
    mask_set.set_binary_(torch.cat(bits))
    return mask_set


def load_checked_masks_(
    mask_set: MaskSet,
    payload: dict[str, Any],
    recorded_fingerprint: str | None,
    source: str,
    error: type[Exception] = ValueError,
) -> str:
    """Load ``payload`` into ``mask_set`` and return its fingerprint; raise ``error`` naming ``source``
    when the run recorded another fingerprint (a checkpoint from another run)."""
    load_packed_masks_(mask_set, payload)
    fingerprint = mask_fingerprint(mask_set)
    if recorded_fingerprint and recorded_fingerprint != fingerprint:
        raise error(
            f"The masks of {source} have fingerprint {fingerprint}, but the run records {recorded_fingerprint}: "
            "the run folder is inconsistent (a checkpoint from another run?). Re-train it."
        )
    return fingerprint
