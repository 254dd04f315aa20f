"""Check a prepared dataset tree against the catalogue (``ramt.data.sources``).

:func:`verify_dataset` looks at one dataset folder and returns a :class:`Report` listing
every problem found: missing folder, missing or unreadable split file, malformed entries,
listed images that are missing or that PIL cannot read, and class / split counts that differ
from the expected ones. Every listed image is checked for presence; readability is checked
for every image (``full=True``) or for a fixed random sample per split.

The tree is only read, never modified.
"""

from __future__ import annotations

import json
import os
import random
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Union

from .sources import DatasetSource, Expected, get_source

__all__ = ["Report", "verify_dataset", "check_images"]

SPLITS = ("train", "val", "test")


@dataclass
class Report:
    """Outcome of verifying one dataset."""

    name: str
    folder: Optional[Path]
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    missing_folder: bool = False

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, msg: str) -> None:
        self.problems.append(msg)

    def format(self, max_problems: int = 10) -> str:
        counts = ", ".join(f"{k} {v:,}" for k, v in self.counts.items())
        where = f" ({self.folder})" if self.folder else ""
        if self.ok:
            line = f"[OK]   {self.name}{where}" + (f": {counts}" if counts else "")
            return "\n".join([line] + [f"       {n}" for n in self.notes])
        lines = [
            f"[FAIL] {self.name}{where}: {len(self.problems)} problem(s)" + (f"; {counts}" if counts else "")
        ]
        lines += [f"       - {p}" for p in self.problems[:max_problems]]
        if len(self.problems) > max_problems:
            lines.append(f"       ... and {len(self.problems) - max_problems} more")
        lines += [f"       {n}" for n in self.notes]
        return "\n".join(lines)


def _is_listed_file(entry: os.DirEntry) -> bool:
    return not entry.name.startswith(".") and entry.is_file()


def _image_readable(path: Path) -> Optional[str]:
    """None if PIL can open and verify ``path``, else the error text."""
    try:
        from PIL import Image

        with Image.open(path) as im:
            im.verify()
        return None
    except Exception as e:  # PIL raises many exception types
        return f"{e.__class__.__name__}: {e}"


def check_images(paths: list[Path], report: Report, workers: int = 8) -> None:
    """Add one problem per path that PIL cannot read."""
    if not paths:
        return
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for path, err in zip(paths, pool.map(_image_readable, paths)):
            if err is not None:
                report.add(f"unreadable image {path} ({err})")


def _pick(paths: list[Path], full: bool, sample: int) -> list[Path]:
    if full or len(paths) <= sample:
        return paths
    return random.Random(0).sample(paths, sample)


def _compare(report: Report, expected: Optional[Expected], classes: Optional[int]) -> None:
    if expected is None:
        return
    if classes is not None and classes != expected.classes:
        report.add(f"{classes} classes, expected {expected.classes}")
    for key in SPLITS:
        want = getattr(expected, key)
        if want is None:
            continue
        got = report.counts.get(key)
        if got is not None and got != want:
            report.add(f"{key} has {got:,} images, expected {want:,}")


def _read_classnames(path: Path, report: Report) -> Optional[list[str]]:
    """wnids listed in classnames.txt, in file order (problems added to ``report``)."""
    if not path.is_file():
        report.add(f"missing {path}")
        return None
    try:
        lines = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    except (OSError, UnicodeDecodeError) as e:
        report.add(f"unreadable {path}: {e}")
        return None
    wnids = [ln.split(" ", 1)[0] for ln in lines]
    if len(lines) != 1000:
        report.add(f"{path} has {len(lines)} lines, expected 1000")
    bad = [ln for ln in lines if " " not in ln]
    if bad:
        report.add(f"{path}: {len(bad)} line(s) without a class name, e.g. {bad[0]!r}")
    return wnids


# --------------------------------------------------------------------------- layouts


def _verify_json(src: DatasetSource, folder: Path, report: Report, full: bool, sample: int, workers: int):
    split_path = folder / src.split_file
    prefix = folder / src.image_prefix if src.image_prefix else folder
    if not split_path.is_file():
        report.add(f"missing split file {split_path}")
        return None
    try:
        data = json.loads(split_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        report.add(f"unreadable split file {split_path}: {e}")
        return None
    if not isinstance(data, dict):
        report.add(f"split file {split_path} does not hold an object with train/val/test")
        return None
    if not prefix.is_dir():
        report.add(f"missing image folder {prefix}")
    names: dict[int, str] = {}
    labels: set[int] = set()
    for key in SPLITS:
        items = data.get(key)
        if not isinstance(items, list):
            report.add(f"split file {split_path} has no list {key!r}")
            continue
        report.counts[key] = len(items)
        paths = []
        malformed = 0
        for item in items:
            ok = (
                isinstance(item, (list, tuple))
                and len(item) == 3
                and isinstance(item[0], str)
                and isinstance(item[1], int)
                and not isinstance(item[1], bool)
                and item[1] >= 0
            )
            if not ok:
                malformed += 1
                continue
            rel, label, cname = item
            labels.add(label)
            if names.setdefault(label, cname) != cname:
                report.add(f"label {label} has two class names: {names[label]!r} and {cname!r}")
            paths.append(prefix / rel)
        if malformed:
            report.add(f"{key}: {malformed} malformed entr(y/ies), expected [path, label, classname]")
        if prefix.is_dir():
            present = []
            for p in paths:
                if p.is_file():
                    present.append(p)
                else:
                    report.add(f"missing image {p} (listed in {key})")
            check_images(_pick(present, full, sample), report, workers)
    if labels and labels != set(range(len(labels))):
        report.add(f"labels are not 0..{len(labels) - 1}: {sorted(labels)[:5]}...")
    return len(labels)


def _verify_fgvc(src: DatasetSource, folder: Path, report: Report, full: bool, sample: int, workers: int):
    variants_file = folder / "variants.txt"
    if not variants_file.is_file():
        report.add(f"missing {variants_file}")
        return None
    variants = [ln.strip() for ln in variants_file.read_text(encoding="utf-8").splitlines() if ln.strip()]
    known = set(variants)
    images = folder / src.image_prefix
    if not images.is_dir():
        report.add(f"missing image folder {images}")
    for key in SPLITS:
        lst = folder / f"images_variant_{key}.txt"
        if not lst.is_file():
            report.add(f"missing list file {lst}")
            continue
        lines = [ln.strip() for ln in lst.read_text(encoding="utf-8").splitlines() if ln.strip()]
        report.counts[key] = len(lines)
        present = []
        for ln in lines:
            img_id, _, variant = ln.partition(" ")
            if variant not in known:
                report.add(f"{lst}: unknown variant {variant!r} for image {img_id}")
            p = images / f"{img_id}.jpg"
            if p.is_file():
                present.append(p)
            elif images.is_dir():
                report.add(f"missing image {p} (listed in {lst.name})")
        check_images(_pick(present, full, sample), report, workers)
    return len(variants)


def _scan_classes(base: Path, report: Report, what: str) -> Optional[dict[str, list[Path]]]:
    if not base.is_dir():
        report.add(f"missing {what} folder {base}")
        return None
    out: dict[str, list[Path]] = {}
    for entry in sorted(os.scandir(base), key=lambda e: e.name):
        if entry.is_dir() and not entry.name.startswith("."):
            out[entry.name] = sorted(Path(f.path) for f in os.scandir(entry.path) if _is_listed_file(f))
    return out


def _check_folder_classes(classes, wnids, numeric, base: Path, report: Report, n_expected) -> None:
    if numeric:
        bad = [c for c in classes if not c.isdigit()]
        if bad:
            report.add(f"{base}: non-numeric class folders, e.g. {bad[0]!r}")
        elif n_expected is not None and {int(c) for c in classes} != set(range(n_expected)):
            report.add(f"{base}: class folders are not 0..{n_expected - 1}")
    elif wnids is not None:
        unknown = sorted(set(classes) - set(wnids))
        if unknown:
            report.add(f"{base}: {len(unknown)} folder(s) not in classnames.txt, e.g. {unknown[0]!r}")
    empty = [c for c, files in classes.items() if not files]
    if empty:
        report.add(f"{base}: {len(empty)} empty class folder(s), e.g. {empty[0]!r}")


def _verify_folders(src: DatasetSource, folder: Path, report: Report, full, sample, workers, expected):
    wnids = _read_classnames(folder / "classnames.txt", report) if src.needs_classnames else None
    n_classes = expected.classes if expected else None
    if src.layout == "imagenet":
        parts = (("train", folder / src.image_prefix / "train"), ("test", folder / src.image_prefix / "val"))
    else:
        parts = (("test", folder / src.image_prefix),)
    seen = None
    for key, base in parts:
        classes = _scan_classes(base, report, f"{key} image")
        if classes is None:
            continue
        _check_folder_classes(classes, wnids, src.class_folders == "numeric", base, report, n_classes)
        report.counts[key] = sum(len(v) for v in classes.values())
        if seen is None:
            seen = len(classes)
        elif len(classes) != seen:
            report.add(f"{base} has {len(classes)} class folders but train has {seen}")
        files = [p for v in classes.values() for p in v]
        check_images(_pick(files, full, sample), report, workers)
    return seen


def verify_dataset(
    name: Union[str, DatasetSource],
    root: Union[str, os.PathLike],
    full: bool = True,
    sample: int = 50,
    expected: Optional[Expected] = None,
    workers: int = 8,
) -> Report:
    """Verify one dataset under ``root``.

    name: config name (or a :class:`DatasetSource`).
    full: check every image with PIL; otherwise ``sample`` images per split (presence of every
        listed image is always checked).
    expected: counts to compare with (default: the catalogue's, i.e. the CoOp protocol sizes).
    """
    src = get_source(name) if isinstance(name, str) else name
    expected = expected if expected is not None else src.expected
    if src.layout == "generated":
        rep = Report(src.name, None)
        rep.notes.append("generated locally by the suite on first use; nothing to verify")
        return rep
    folder = Path(root) / src.folder
    rep = Report(src.name, folder)
    if not folder.is_dir():
        rep.missing_folder = True
        rep.add(f"missing folder {folder}")
        return rep
    if src.layout == "json":
        classes = _verify_json(src, folder, rep, full, sample, workers)
    elif src.layout == "fgvc":
        classes = _verify_fgvc(src, folder, rep, full, sample, workers)
    elif src.layout in ("imagenet", "folder_test"):
        classes = _verify_folders(src, folder, rep, full, sample, workers, expected)
    else:  # pragma: no cover - catalogue error
        raise ValueError(f"unknown layout {src.layout!r} for {src.name}")
    _compare(rep, expected, classes)
    if not full:
        rep.notes.append(f"image readability checked on a sample of {sample} per split")
    return rep
