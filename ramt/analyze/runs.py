"""Finding and reading mask sources: R-AMT run folders and stand-alone mask files.

A *mask run* is a folder whose ``shared/checkpoint`` pointer names a bit-packed mask checkpoint
(R-AMT, its variants and CoOp+R-AMT joint runs), or a ``.safetensors`` mask file written by
``python -m ramt.export RUN --format masks``. What the masks belong to comes from the run's
``mask_run.json`` and ``results.json`` (or the mask file's header).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np
from safetensors import safe_open

from ramt.clip.spec import head_width
from ramt.engine.checkpoint import load_checkpoint, pointed_checkpoint
from ramt.mask_tuning import MASK_MODEL_NAME
from ramt.masks import MASKS_FILE_SUFFIX, read_masks_file
from ramt.masks.packing import FORMAT, unpack_bits

__all__ = ["MaskRun", "find_mask_runs", "head_width_for", "load_mask_run", "mask_checkpoint"]

DEFAULT_HEAD_WIDTH = 64  # OpenAI CLIP ViTs (and open_clip's default)


@dataclass
class MaskRun:
    """The binary masks of one run, with what they belong to.

    ``meta`` keys: ``dataset``, ``shots``, ``seed``, ``method``, ``backbone``, ``pretrained``,
    ``layers``, ``threshold``, ``fingerprint``, ``head_width``, ``epoch`` (missing values are
    ``None``/empty). ``masks`` maps parameter names to bool arrays (``True`` = kept).
    """

    path: str
    source: str  # the file read: the packed checkpoint or the mask file
    meta: dict[str, Any]
    masks: dict[str, np.ndarray] = field(repr=False)
    label: str = ""

    @property
    def layout(self) -> tuple:
        """Names and shapes: two runs are comparable entry by entry when their layouts are equal."""
        return tuple((n, tuple(m.shape)) for n, m in self.masks.items())

    @property
    def group(self) -> str:
        """``dataset Kshot method`` (runs differing only by seed share a group)."""
        m = self.meta
        parts = [
            str(m.get("dataset") or "?"),
            f"{m['shots']}shot" if m.get("shots") is not None else "",
            m.get("method") or "",
        ]
        return " ".join(p for p in parts if p)


def mask_checkpoint(run_dir: str) -> Optional[str]:
    """The packed mask checkpoint a run folder's ``shared/checkpoint`` pointer names (None if none)."""
    return pointed_checkpoint(os.path.join(run_dir, MASK_MODEL_NAME))


def _is_mask_file(path: str) -> bool:
    if not (os.path.isfile(path) and path.endswith(MASKS_FILE_SUFFIX)):
        return False
    try:
        with safe_open(path, framework="pt") as f:
            return (f.metadata() or {}).get("format") == FORMAT
    except Exception:
        return False


def find_mask_runs(paths: Iterable[str]) -> list[str]:
    """Every mask run under ``paths`` (run folders, mask files, or trees holding them), sorted.

    Raises FileNotFoundError for a path that does not exist.
    """
    found: list[str] = []
    for path in paths:
        path = os.path.abspath(os.path.expanduser(str(path)))
        if not os.path.exists(path):
            raise FileNotFoundError(
                f"{path} does not exist (expected a run folder, an output tree or a mask file)."
            )
        if os.path.isfile(path):
            found.append(path)
            continue
        if mask_checkpoint(path):
            found.append(path)
            continue
        for root, dirs, files in os.walk(path):
            dirs.sort()
            if mask_checkpoint(root):
                found.append(root)
                dirs[:] = []  # nothing to find inside a run folder
                continue
            found.extend(os.path.join(root, f) for f in sorted(files) if _is_mask_file(os.path.join(root, f)))
    return sorted(dict.fromkeys(found))


def head_width_for(backbone: str) -> int:
    """The attention head width of a backbone's image encoder, from the backbone table (or
    open_clip's config for other model names)."""
    return head_width(backbone)


def _read_json(path: str) -> dict:
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def _unpack(payload: dict, source: str) -> dict[str, np.ndarray]:
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(f"{source} is not an R-AMT packed mask checkpoint (no {FORMAT!r} format tag).")
    return {m["name"]: unpack_bits(m["bits"], m["shape"]).numpy() for m in payload["masks"]}


def _pick(*values):
    for v in values:
        if v not in (None, ""):
            return v
    return None


def load_mask_run(path: str) -> MaskRun:
    """Read the masks and metadata of one run folder or mask file."""
    path = os.path.abspath(os.path.expanduser(str(path)))
    if os.path.isfile(path):
        payload, header = read_masks_file(path)
        run = header.get("run") or {}
        meta = {
            "dataset": run.get("dataset"),
            "shots": run.get("shots"),
            "seed": run.get("seed"),
            "method": _pick(run.get("method"), run.get("trainer")),
            "backbone": header["backbone"],
            "pretrained": header["pretrained"],
            "layers": header["layers"],
            "threshold": header["threshold"],
            "fingerprint": header["fingerprint"],
            "head_width": header["head_width"],
            "epoch": header["epoch"],
        }
        return MaskRun(path, path, meta, _unpack(payload, path))
    ckpt = mask_checkpoint(path)
    if ckpt is None:
        raise FileNotFoundError(
            f"{path} holds no mask checkpoint ({os.path.join(path, MASK_MODEL_NAME, 'checkpoint')} is missing "
            "or names a missing file). Point at a finished R-AMT run folder, an output tree or a mask file."
        )
    payload = load_checkpoint(ckpt)["state_dict"]
    masks = _unpack(payload, ckpt)
    info = _read_json(os.path.join(path, "mask_run.json"))
    results = _read_json(os.path.join(path, "results.json"))
    backbone = _pick(info.get("backbone"), results.get("backbone"), payload.get("backbone")) or ""
    cfg = results.get("config") or {}
    pretrained = _pick(
        info.get("pretrained"), ((cfg.get("MODEL") or {}).get("BACKBONE") or {}).get("PRETRAINED")
    )
    meta = {
        "dataset": _pick(info.get("dataset"), results.get("dataset")),
        "shots": _pick(info.get("shots"), results.get("shots")),
        "seed": _pick(info.get("seed"), results.get("seed")),
        "method": _pick(results.get("method"), info.get("trainer"), results.get("trainer")),
        "backbone": backbone,
        "pretrained": pretrained if isinstance(pretrained, str) else "",
        "layers": list(payload.get("layers", [])),
        "threshold": float(payload.get("threshold", 0.0)),
        "fingerprint": info.get("mask_fingerprint", ""),
        "head_width": head_width_for(backbone),
        "epoch": int(payload.get("epoch", -1)),
    }
    return MaskRun(path, ckpt, meta, masks)


def iter_mask_runs(paths: Iterable[str]) -> Iterator[MaskRun]:
    for p in find_mask_runs(paths):
        yield load_mask_run(p)
