"""Atomic file writes: a kill at any moment never leaves a file that loads wrong."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from typing import Any


def mkdir_if_missing(path: str) -> None:
    if path:
        os.makedirs(path, exist_ok=True)


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _open_temp(fd: int, mode: str, path: str):
    """The temporary file's object for ``path`` (a seam for tests that simulate a full disk)."""
    return os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"}))


class _GuardedWriter:
    """Forward writes to a file and remember the first ``OSError``: torch reports a failed write as
    its own RuntimeError, and the real cause (e.g. a full disk) must reach the user."""

    def __init__(self, f) -> None:
        self._f = f
        self.error: OSError | None = None

    def write(self, data):
        try:
            return self._f.write(data)
        except OSError as e:
            self.error = self.error or e
            raise

    def __getattr__(self, name):
        return getattr(self._f, name)


def _atomic_write(path: str, write_fn, mode: str = "wb") -> None:
    folder = os.path.dirname(os.path.abspath(path))
    mkdir_if_missing(folder)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=folder)
    os.fchmod(fd, 0o666 & ~current_umask())  # mkstemp's 0600 would hide results from the group
    guard = None
    try:
        with _open_temp(fd, mode, path) as f:
            guard = _GuardedWriter(f)
            write_fn(guard)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        if os.path.exists(tmp):
            os.remove(tmp)
        if guard is not None and guard.error is not None and guard.error is not e:
            err = guard.error
            raise OSError(err.errno, err.strerror, path) from e
        if isinstance(e, OSError) and e.filename is None and e.errno is not None:
            raise OSError(e.errno, e.strerror, path) from e
        raise


def atomic_write_text(path: str, text: str) -> None:
    """Write ``text`` to ``path`` atomically (temporary file in the same folder, then rename)."""
    _atomic_write(path, lambda f: f.write(text), mode="w")


def atomic_write_json(path: str, obj: Any, indent: int = 2) -> None:
    atomic_write_text(path, json.dumps(obj, indent=indent, sort_keys=False) + "\n")


def atomic_torch_save(obj: Any, path: str) -> None:
    import torch  # local import: keeps ramt.utils.io torch-free for the data layer and scripts

    _atomic_write(path, lambda f: torch.save(obj, f))


def read_json(path: str) -> Any:
    with open(path) as f:
        return json.load(f)


def sha256_file(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def file_stamp(path: str) -> str:
    """``size:mtime_ns:ctime_ns`` of a file (``missing`` when it cannot be stat'ed): the caches'
    view of an input file. The inode change time catches a same-size rewrite whose mtime was restored."""
    try:
        st = os.stat(path)
    except OSError:
        return "missing"
    return f"{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}"
