"""Atomic file writes: a kill at any moment never leaves a file that loads wrong."""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any


def mkdir_if_missing(path: str) -> None:
    if path:
        os.makedirs(path, exist_ok=True)


def _atomic_write(path: str, write_fn, mode: str = "wb") -> None:
    folder = os.path.dirname(os.path.abspath(path))
    mkdir_if_missing(folder)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as f:
            write_fn(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def atomic_write_text(path: str, text: str) -> None:
    """Write ``text`` to ``path`` atomically (temporary file in the same folder, then rename)."""
    _atomic_write(path, lambda f: f.write(text), mode="w")


def atomic_write_json(path: str, obj: Any, indent: int = 2) -> None:
    atomic_write_text(path, json.dumps(obj, indent=indent, sort_keys=False) + "\n")


def atomic_torch_save(obj: Any, path: str) -> None:
    import torch

    _atomic_write(path, lambda f: torch.save(obj, f))


def read_json(path: str) -> Any:
    with open(path) as f:
        return json.load(f)
