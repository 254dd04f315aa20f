"""ImageNet-style folder scans (sorted class folders, sorted file names) with a JSON index cache.

Used by ImageNet (train/val), ImageNet-Sketch/A/R (wnid folders) and ImageNet-V2 (numeric folders).
The index is cached under the cache directory, never in the data root. Its cache key is the
folder's real path plus each class folder's name and modification time; the index's *content*
fingerprint (used as the few-shot split fingerprint) depends only on relative paths and labels.
"""

from __future__ import annotations

import json
import os
from collections import OrderedDict
from collections.abc import Sequence
from typing import Optional

from ramt.catalogue import IMAGENET_CLASSNAMES_GDRIVE_ID

from .splits import atomic_write_text, text_fingerprint

__all__ = [
    "IMAGE_EXTENSIONS",
    "INDEX_VERSION",
    "list_class_folders",
    "read_classnames",
    "imagenet_fallback_classnames",
    "scan_folders",
    "cached_scan",
    "index_fingerprint",
]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif", ".tif", ".tiff")
INDEX_VERSION = 1


def list_class_folders(image_dir: str) -> list[str]:
    """Sorted names of the sub-folders of ``image_dir`` (files such as README.txt are ignored)."""
    return sorted(e.name for e in os.scandir(image_dir) if e.is_dir() and not e.name.startswith("."))


def read_classnames(path: str) -> OrderedDict[str, str]:
    """Read ``<wnid> <class name words>`` lines (split on the first space), in file order."""
    out: OrderedDict[str, str] = OrderedDict()
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            parts = line.split(" ", 1)
            if len(parts) != 2:
                raise ValueError(f"{path}, line {lineno}: expected '<wnid> <class name>', got {line!r}")
            out[parts[0]] = parts[1].strip()
    return out


def imagenet_fallback_classnames() -> list[str]:
    """open_clip's 1,000 ImageNet class names (CLIP's cleaned names) in sorted-wnid order."""
    try:
        from open_clip.zero_shot_metadata import IMAGENET_CLASSNAMES
    except ImportError as e:  # pragma: no cover - open_clip is a dependency
        raise FileNotFoundError(
            "classnames.txt is missing and open_clip is not installed for the fallback names. "
            f"Download classnames.txt (Google Drive id {IMAGENET_CLASSNAMES_GDRIVE_ID}); see docs/DATASETS.md."
        ) from e
    names = list(IMAGENET_CLASSNAMES)
    if len(names) != 1000:  # pragma: no cover
        raise RuntimeError(f"open_clip's ImageNet class list has {len(names)} names, expected 1000")
    return names


def scan_folders(
    image_dir: str, folders: Sequence[str], labels: Optional[Sequence[int]] = None
) -> list[list]:
    """``[[relpath, label], ...]`` for the image files in ``image_dir/<folder>``, sorted by file name.

    ``labels`` defaults to the folder positions. A missing folder contributes nothing.
    """
    labels = list(range(len(folders))) if labels is None else list(labels)
    out = []
    for folder, label in zip(folders, labels):
        d = os.path.join(image_dir, folder)
        if not os.path.isdir(d):
            continue
        names = sorted(
            e.name
            for e in os.scandir(d)
            if e.is_file() and not e.name.startswith(".") and e.name.lower().endswith(IMAGE_EXTENSIONS)
        )
        out.extend([f"{folder}/{n}", label] for n in names)
    return out


def index_fingerprint(index: Sequence[Sequence], extra: str = "") -> str:
    """SHA-256 over the index lines ``relpath<TAB>label`` (plus ``extra``, e.g. the class-name file)."""
    return text_fingerprint("\n".join(f"{rel}\t{lab}" for rel, lab in index), extra or None)


def _scan_key(image_dir: str, folders: Sequence[str]) -> str:
    parts = [os.path.realpath(image_dir), f"v{INDEX_VERSION}"]
    for folder in folders:
        d = os.path.join(image_dir, folder)
        try:
            mtime = os.stat(d).st_mtime_ns
        except OSError:
            mtime = -1
        parts.append(f"{folder}:{mtime}")
    return text_fingerprint("\n".join(parts))


def cached_scan(
    cache_dir: str,
    name: str,
    image_dir: str,
    folders: Sequence[str],
    labels: Optional[Sequence[int]] = None,
    verbose: bool = True,
) -> list[list]:
    """:func:`scan_folders` with a JSON cache at ``<cache_dir>/index/<name>-<key16>.json``.

    The key changes when the folder moves or any class folder's contents change (its mtime).
    An unwritable cache folder only costs a rescan next time.
    """
    key = _scan_key(image_dir, folders)
    path = os.path.join(cache_dir, "index", f"{name}-{key[:16]}.json")
    if os.path.isfile(path):
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
            if data.get("key") == key and isinstance(data.get("items"), list):
                return [list(x) for x in data["items"]]
        except (OSError, json.JSONDecodeError, UnicodeDecodeError):
            pass  # rebuild below
    if verbose:
        print(f"Indexing {image_dir} ({len(folders)} class folders)")
    items = scan_folders(image_dir, folders, labels)
    try:
        atomic_write_text(path, json.dumps({"key": key, "image_dir": image_dir, "items": items}))
    except OSError as e:
        print(f"Warning: could not write the file index {path} ({e})")
    return items
