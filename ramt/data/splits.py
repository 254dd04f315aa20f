"""CoOp split files (``split_zhou_<Name>.json``), file fingerprints and the per-dataset layout table."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from typing import Optional

from ramt.catalogue import CATALOGUE, DatasetSource, gdrive_view_url
from ramt.utils.io import atomic_write_text, sha256_file

from .datum import Datum

__all__ = [
    "DATASET_INFO",
    "SplitFileNotFoundError",
    "SplitFormatError",
    "dataset_info",
    "read_split",
    "read_fgvc_list",
    "read_fgvc_variants",
    "write_split",
    "file_fingerprint",
    "text_fingerprint",
    "to_relpath",
    "atomic_write_text",
    "DatasetNotFoundError",
    "dataset_root",
    "require_dataset_dir",
]


#: The dataset record (``ramt.catalogue.DatasetSource``) of each dataset, keyed by registry name.
class _ByRegistry(Mapping):
    """Registry name -> record, a live view of the catalogue (records registered later included)."""

    def _map(self) -> dict[str, DatasetSource]:
        return {src.registry: src for src in CATALOGUE.values()}

    def __getitem__(self, key: str) -> DatasetSource:
        return self._map()[key]

    def __iter__(self):
        return iter(self._map())

    def __len__(self) -> int:
        return len(CATALOGUE)


DATASET_INFO: Mapping[str, DatasetSource] = _ByRegistry()


def dataset_info(name: str) -> DatasetSource:
    """The dataset record, looked up by registry name or config name."""
    if name in DATASET_INFO:
        return DATASET_INFO[name]
    for info in DATASET_INFO.values():
        if info.config_name == name:
            return info
    raise KeyError(f"Unknown dataset '{name}'. Known: {', '.join(DATASET_INFO)}")


class SplitFileNotFoundError(FileNotFoundError):
    """A split file (or list file) that should be next to the images is missing."""


class SplitFormatError(ValueError):
    """A split file that is not valid JSON or has malformed entries."""


def _split_download_hint(path: str) -> str:
    base = os.path.basename(path)
    folder = os.path.dirname(os.path.abspath(path))
    for info in DATASET_INFO.values():
        if info.split_file == base and info.split_drive_id:
            return (
                f"Download {base} (Google Drive id {info.split_drive_id}, "
                f"{gdrive_view_url(info.split_drive_id)}) into {folder}; see docs/DATASETS.md."
            )
    return f"Put {base} into {folder}; see docs/DATASETS.md."


def to_relpath(impath: str, image_prefix: str) -> str:
    """The path of ``impath`` relative to ``image_prefix``, with '/' separators."""
    prefix = image_prefix.rstrip("/\\")
    if prefix and impath.startswith(prefix + os.sep):
        rel = impath[len(prefix) + 1 :]
    elif not prefix:
        rel = impath
    else:
        rel = os.path.relpath(impath, prefix)
    return rel.replace(os.sep, "/")


def _parse_items(entries, path: str, key: str, image_prefix: str) -> list[Datum]:
    if not isinstance(entries, list):
        raise SplitFormatError(
            f"Split file {path}: key '{key}' must map to a list of [relative_path, label, classname] "
            f"entries, got {type(entries).__name__}. Re-download the file."
        )
    out = []
    join = os.path.join
    for i, entry in enumerate(entries):
        if (
            not isinstance(entry, (list, tuple))
            or len(entry) != 3
            or not isinstance(entry[0], str)
            or isinstance(entry[1], bool)
            or not isinstance(entry[1], int)
            or not isinstance(entry[2], str)
        ):
            raise SplitFormatError(
                f"Split file {path}: entry {i} of '{key}' is {entry!r}; expected "
                "[relative_path (str), label (int), classname (str)]. Re-download the file."
            )
        rel, label, cname = entry
        if label < 0:
            raise SplitFormatError(f"Split file {path}: entry {i} of '{key}' has a negative label {label}.")
        impath = join(image_prefix, rel) if image_prefix else rel
        out.append(Datum(impath=impath, label=label, classname=cname))
    return out


def read_split(path: str, image_prefix: str) -> tuple[list[Datum], list[Datum], list[Datum]]:
    """Read a CoOp split file; return ``(train, val, test)`` lists in file order.

    Each entry ``[relative_path, label, classname]`` becomes a :class:`Datum` whose path is
    ``image_prefix`` joined with the relative path.
    """
    if not os.path.isfile(path):
        raise SplitFileNotFoundError(f"Split file not found: {path}. {_split_download_hint(path)}")
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise SplitFormatError(
            f"Split file {path} is not valid JSON ({e}). It may be truncated or an HTML download "
            f"page. {_split_download_hint(path)}"
        ) from e
    if not isinstance(data, dict):
        raise SplitFormatError(f"Split file {path}: expected a JSON object with keys train/val/test.")
    lists = []
    for key in ("train", "val", "test"):
        if key not in data:
            raise SplitFormatError(
                f"Split file {path} has no key '{key}' (keys: {sorted(data)}). {_split_download_hint(path)}"
            )
        lists.append(_parse_items(data[key], path, key, image_prefix))
    return lists[0], lists[1], lists[2]


def read_fgvc_variants(path: str) -> list[str]:
    """FGVC-Aircraft's ``variants.txt``: one class (variant) per line; the label is the line index."""
    with open(path, encoding="utf-8") as f:
        return [line.strip() for line in f if line.strip()]


def read_fgvc_list(path: str, label_of: dict[str, int], image_dir: str) -> list[Datum]:
    """One FGVC-Aircraft list file (``images_variant_<split>.txt``: ``<image id> <variant>`` lines)."""
    items = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            image_id, _, variant = line.partition(" ")
            if not variant:
                raise SplitFormatError(
                    f"{path}, line {lineno}: expected '<image id> <variant>', got {line!r}."
                )
            if variant not in label_of:
                raise SplitFormatError(
                    f"{path}, line {lineno}: unknown variant {variant!r} for image {image_id} (every variant "
                    "must be listed in variants.txt)."
                )
            items.append(
                Datum(os.path.join(image_dir, image_id + ".jpg"), label_of[variant], classname=variant)
            )
    return items


def items_to_entries(items: Sequence[Datum], image_prefix: str) -> list[list]:
    return [[to_relpath(it.impath, image_prefix), it.label, it.classname] for it in items]


def write_split(
    train: Sequence[Datum], val: Sequence[Datum], test: Sequence[Datum], path: str, image_prefix: str
) -> None:
    """Write a split file in CoOp's format (paths relative to ``image_prefix``), atomically."""
    data = {
        "train": items_to_entries(train, image_prefix),
        "val": items_to_entries(val, image_prefix),
        "test": items_to_entries(test, image_prefix),
    }
    atomic_write_text(path, json.dumps(data))


def file_fingerprint(*paths: str) -> str:
    """SHA-256 hex digest of one file; for several, of their names and digests in order."""
    if not paths:
        raise ValueError("file_fingerprint needs at least one path")
    for p in paths:
        if not os.path.isfile(p):
            raise SplitFileNotFoundError(f"Cannot fingerprint {p}: file not found.")
    if len(paths) == 1:
        return sha256_file(paths[0])
    h = hashlib.sha256()
    for p in paths:
        h.update(f"{os.path.basename(p)}\0{sha256_file(p)}\n".encode())
    return h.hexdigest()


def text_fingerprint(text: str, extra: Optional[str] = None) -> str:
    """SHA-256 hex digest of a string (used for folder-scan indexes)."""
    h = hashlib.sha256(text.encode("utf-8"))
    if extra:
        h.update(b"\0" + extra.encode("utf-8"))
    return h.hexdigest()


class DatasetNotFoundError(FileNotFoundError):
    """A dataset folder (or a required file in it) that is not under the data root."""


def dataset_root(cfg) -> str:
    """``DATASET.ROOT`` (``~`` expanded), else the ``DATA`` environment variable."""
    root = cfg.DATASET.ROOT or os.environ.get("DATA", "")
    if not root:
        raise DatasetNotFoundError(
            f"DATASET.ROOT is empty, so dataset {cfg.DATASET.NAME or '?'} cannot be located. Pass "
            "--root <data folder> (or set the DATA environment variable); see docs/DATASETS.md."
        )
    return os.path.abspath(os.path.expanduser(root))


def require_dataset_dir(root: str, name: str) -> str:
    """Return ``<root>/<folder>`` for dataset ``name``, or raise a one-paragraph error with the fix."""
    info = dataset_info(name)
    path = os.path.join(root, info.folder)
    if not os.path.isdir(path):
        raise DatasetNotFoundError(
            f"Dataset {info.registry} not found: expected its folder at {path}. Download and prepare it "
            f"there (`python -m ramt.data.prepare {info.config_name} --root {root}`; see "
            f"docs/DATASETS.md for the layout and sources), or pass the right --root / set DATA if "
            "the data lives elsewhere."
        )
    return path
