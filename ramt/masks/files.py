"""Stand-alone mask files: the binary masks alone in a small ``safetensors`` file.

One ``uint8`` tensor per masked weight, keyed by its parameter name (relative to the image
encoder), holding the bit-packed mask exactly as in the packed checkpoint (see
:func:`ramt.masks.pack_bits`). The safetensors JSON header's ``__metadata__`` (strings only)
says what the masks belong to::

    format       "ramt-binary-masks"        version      "1"
    backbone     e.g. "ViT-B/16", "tiny"    pretrained   pretraining tag ("openai", "" if none)
    layers       JSON list, e.g. ["conv1", "attn"]
    threshold    tau, e.g. "0.005"          fingerprint  ramt.masks.mask_fingerprint of the masks
    shapes       JSON {name: shape}         order        JSON list of names (the MaskSet order)
    head_width   attention head width of the encoder ("64" for OpenAI's ViTs)
    run          JSON of the source run's mask_run.json (dataset, shots, seed, ...), "{}" if none

:func:`read_masks_file` returns the same payload as :func:`ramt.masks.pack_masks`, so every
loader of packed checkpoints (``load_packed_masks_``, ``MASK.SOURCE_RUN``, ``ramt.analyze``)
accepts it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from .packing import FORMAT, FORMAT_VERSION, packed_nbytes
from .selection import official_mask_key

__all__ = ["MASKS_FILE_SUFFIX", "is_masks_file", "read_masks_file", "write_masks_file"]

MASKS_FILE_SUFFIX = ".safetensors"


def is_masks_file(path: str) -> bool:
    """True for an existing ``.safetensors`` file (a candidate mask file)."""
    return os.path.isfile(path) and str(path).endswith(MASKS_FILE_SUFFIX)


def write_masks_file(
    path: str,
    payload: Mapping[str, Any],
    fingerprint: str,
    pretrained: str = "",
    head_width: int = 64,
    run_info: Mapping[str, Any] | None = None,
) -> str:
    """Write the masks of a packed payload (:func:`ramt.masks.pack_masks`) to ``path`` atomically."""
    if payload.get("format") != FORMAT:
        raise ValueError(f"Not an R-AMT mask payload (format {payload.get('format')!r}).")
    tensors = {m["name"]: torch.as_tensor(m["bits"], dtype=torch.uint8).reshape(-1) for m in payload["masks"]}
    shapes = {m["name"]: [int(s) for s in m["shape"]] for m in payload["masks"]}
    meta = {
        "format": FORMAT,
        "version": str(FORMAT_VERSION),
        "backbone": str(payload.get("backbone", "")),
        "pretrained": str(pretrained or ""),
        "layers": json.dumps(list(payload.get("layers", []))),
        "threshold": repr(float(payload.get("threshold", 0.0))),
        "fingerprint": str(fingerprint),
        "shapes": json.dumps(shapes),
        "order": json.dumps([m["name"] for m in payload["masks"]]),
        "head_width": str(int(head_width)),
        "epoch": str(int(payload.get("epoch", -1))),
        "run": json.dumps(dict(run_info or {}), sort_keys=True),
    }
    path = os.path.expanduser(str(path))
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}"
    save_file(tensors, tmp, metadata=meta)
    os.replace(tmp, path)
    return path


def read_masks_file(path: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(payload, header)``: a :func:`pack_masks`-style payload and the decoded header.

    ``header`` holds ``backbone``, ``pretrained``, ``layers`` (list), ``threshold`` (float),
    ``fingerprint``, ``head_width`` (int), ``epoch`` (int) and ``run`` (dict).
    """
    path = os.path.expanduser(str(path))
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Mask file {path} does not exist.")
    try:
        with safe_open(path, framework="pt") as f:
            meta = dict(f.metadata() or {})
            tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (safe_open has no __iter__)
    except Exception as err:
        raise ValueError(f"{path} is not a readable safetensors file: {err}") from err
    if meta.get("format") != FORMAT:
        raise ValueError(
            f"{path} is not an R-AMT mask file (its header has format {meta.get('format')!r}, expected "
            f"{FORMAT!r}); write one with `python -m ramt.export RUN_DIR --format masks --out FILE`."
        )
    if int(meta.get("version", "0")) > FORMAT_VERSION:
        raise ValueError(
            f"{path}: mask file version {meta['version']} is newer than this code ({FORMAT_VERSION})."
        )
    shapes = json.loads(meta["shapes"])
    order = json.loads(meta["order"])
    if sorted(order) != sorted(tensors) or sorted(shapes) != sorted(tensors):
        raise ValueError(
            f"{path}: the header's tensor list does not match the stored tensors; the file is corrupt."
        )
    masks = []
    for name in order:
        bits = tensors[name].to(torch.uint8).reshape(-1)
        shape = [int(s) for s in shapes[name]]
        if bits.numel() != packed_nbytes(int(np.prod(shape, dtype=np.int64))):
            raise ValueError(
                f"{path}: mask {name} has {bits.numel()} bytes, shape {shape} needs more or fewer."
            )
        masks.append({"key": official_mask_key(name), "name": name, "shape": shape, "bits": bits})
    header = {
        "backbone": meta.get("backbone", ""),
        "pretrained": meta.get("pretrained", ""),
        "layers": json.loads(meta.get("layers", "[]")),
        "threshold": float(meta.get("threshold", "0")),
        "fingerprint": meta.get("fingerprint", ""),
        "head_width": int(meta.get("head_width", "64")),
        "epoch": int(meta.get("epoch", "-1")),
        "run": json.loads(meta.get("run", "{}")),
    }
    total = sum(int(np.prod(m["shape"], dtype=np.int64)) for m in masks)
    ones = sum(int(np.unpackbits(m["bits"].numpy()).sum()) for m in masks)  # padding bits are 0
    zeros = total - ones
    payload = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "backbone": header["backbone"],
        "epoch": header["epoch"],
        "layers": header["layers"],
        "threshold": header["threshold"],
        "zeros": zeros,
        "total": total,
        "masks": masks,
    }
    return payload, header
