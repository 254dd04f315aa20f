"""File digests remembered across processes (torch-free: the run-folder tag may need one)."""

from __future__ import annotations

import json
import os
from typing import Optional

from ramt.utils.io import atomic_write_json, file_stamp, sha256_file

__all__ = ["file_sha256"]


def file_sha256(path: str, cache_dir: Optional[str] = None) -> str:
    """SHA-256 of a file, remembered in ``<cache_dir>/digests.json`` by (path, size, mtime, ctime)."""
    path = os.path.abspath(os.path.expanduser(path))
    os.stat(path)  # a missing file raises here
    stamp = f"{path}:{file_stamp(path)}"
    memo_path = os.path.join(cache_dir, "digests.json") if cache_dir else ""
    memo: dict = {}
    if memo_path and os.path.isfile(memo_path):
        try:
            with open(memo_path, encoding="utf-8") as f:
                memo = json.load(f)
        except (OSError, ValueError):
            memo = {}
    if isinstance(memo.get(stamp), str):
        return memo[stamp]
    digest = sha256_file(path)
    if memo_path:
        memo[stamp] = digest
        try:
            atomic_write_json(memo_path, memo)
        except OSError:  # a read-only cache only costs the hash next time
            pass
    return digest
