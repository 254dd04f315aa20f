"""No writes outside OUTPUT: checks for every path piece that comes from a command line.

``train.py`` calls :func:`check_run_folder` before anything is created (the lock, log.txt); the
config loader calls :func:`check_config_name`; ``scripts/common.sh`` applies the same rules to
``EXP`` and dataset names and exports ``RAMT_OUTPUT_ROOT`` (its ``OUTPUT``), inside which every run
folder of a runner script must lie. Stdlib only.
"""

from __future__ import annotations

import os
import re
from typing import Optional

__all__ = [
    "OUTPUT_ROOT_ENV",
    "UnsafePathError",
    "cache_dir_fix",
    "check_config_name",
    "check_name",
    "check_run_folder",
    "check_run_paths",
]

#: Set by the runner scripts to their ``OUTPUT``: a run folder must lie inside it.
OUTPUT_ROOT_ENV = "RAMT_OUTPUT_ROOT"
#: The cache root of this process's run (set by :func:`check_run_paths`), for error hints.
_CACHE_ROOT: list[str] = []
#: One path piece: a dataset name, a variant, an ``EXP`` component.
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.,+=@-]*$")


class UnsafePathError(ValueError):
    """A path piece from the command line would lead outside the output root."""


def _parts(path: str) -> list[str]:
    return [p for p in re.split(r"[/\\]", path) if p not in ("", ".")]


def check_name(value: str, what: str, fix: str = "") -> str:
    """``value`` when it is one safe path piece (no ``/``, no ``..``), else :class:`UnsafePathError`."""
    if not _NAME.match(value or "") or ".." in value:
        raise UnsafePathError(
            f"{what} {value!r} is not a plain name: use letters, digits and _ . , + = @ - only (no '/', "
            f"no '..', no leading '.'), so that its folder stays inside the output root. {fix}".rstrip()
        )
    return value


def climbs_back(path: str) -> bool:
    """True when ``path`` has a ``..`` after an ordinary component (``out/x/../../y``)."""
    seen_name = False
    for part in _parts(path):
        if part == "..":
            if seen_name:
                return True
        else:
            seen_name = True
    return False


def _inside(path: str, root: str) -> bool:
    path, root = os.path.realpath(path), os.path.realpath(root)
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def check_run_folder(output_dir: str, output_root: Optional[str] = None) -> None:
    """Refuse a run folder that climbs back out of itself or lies outside ``output_root``.

    ``output_root`` defaults to ``$RAMT_OUTPUT_ROOT`` (set by the runner scripts); without it only
    the ``..`` rule applies (a folder given directly to train.py is the user's own choice).
    """
    root = output_root if output_root is not None else os.environ.get(OUTPUT_ROOT_ENV, "")
    if climbs_back(output_dir):
        raise UnsafePathError(
            f"The run folder {output_dir!r} (--output-dir) climbs back out of itself with '..' and would "
            f"be written at {os.path.abspath(output_dir)!r}. Nothing was written. Give the folder without "
            "'..' (with the runner scripts: check EXP and the dataset name)."
        )
    if root and not _inside(output_dir, root):
        raise UnsafePathError(
            f"The run folder {output_dir!r} (--output-dir) lies outside the output root {root!r} "
            f"(OUTPUT / {OUTPUT_ROOT_ENV}). Nothing was written. Check EXP and the dataset name, or set "
            "OUTPUT to the folder you mean."
        )


def check_config_name(path: str, kind: str) -> None:
    """A config that is not an existing file must be a plain shipped name: no ``..`` (and, for a
    dataset, no ``/``), so that a name never reaches another kind's folder."""
    if os.path.isfile(path):
        return
    parts = _parts(path.replace(f"configs/{kind}/", "", 1))
    if ".." in parts or (kind == "datasets" and len(parts) > 1):
        what = "--dataset-config-file" if kind == "datasets" else "--config-file"
        raise UnsafePathError(
            f"{what} {path!r} is neither an existing file nor the name of a shipped {kind} config: a name "
            f"may not contain '..'{' or /' if kind == 'datasets' else ''}. Pass an existing yaml path or a "
            "plain name such as 'digits'."
        )


def check_run_paths(output_dir: str, cache_dir: str) -> None:
    """:func:`check_run_folder`, and remember the cache root so that its I/O errors name CACHE_DIR."""
    check_run_folder(output_dir)
    _CACHE_ROOT[:] = [cache_dir]


def cache_dir_fix(path: str, cause: str) -> Optional[str]:
    """The fix for an I/O error on ``path`` when it lies in the run's cache root (else None)."""
    if not path or not _CACHE_ROOT or not _inside(path, _CACHE_ROOT[0]):
        return None
    return (
        f"the cache folder {_CACHE_ROOT[0]} (CACHE_DIR) cannot be written ({cause}). Point the cache at a "
        "writable folder with enough space: add `CACHE_DIR /path/to/cache` to the command (or set "
        "RAMT_CACHE_DIR=/path/to/cache), or make that folder writable; then run the same command again"
    )
