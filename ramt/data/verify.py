"""Check a prepared dataset tree against the catalogue (``ramt.catalogue``).

Split files, FGVC list files and class-name files are read by the same readers the datasets use
(``ramt.data.splits``, ``ramt.data.imagenet_index``), so a tree that verifies is a tree that loads.

:func:`verify_dataset` looks at one dataset folder and returns a :class:`Report` listing
every problem found: missing folder, missing or unreadable split file, malformed entries,
listed images that are missing or that PIL cannot read, and class / split counts that differ
from the expected ones. Every listed image is checked for presence; readability is checked
for every image (``full=True``) or for a fixed random sample per split.

The tree is only read, never modified.
"""

from __future__ import annotations

import os
import random
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Union

from ramt.catalogue import DatasetSource, Expected, get_source

from .imagenet_index import read_classnames
from .splits import SplitFormatError, read_fgvc_list, read_fgvc_variants, read_split

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
    """wnids listed in classnames.txt, in file order, read by the datasets' own reader."""
    if not path.is_file():
        report.add(f"missing {path}")
        return None
    try:
        wnids = list(read_classnames(str(path)))
        lines = sum(1 for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip())
    except (OSError, UnicodeDecodeError, ValueError) as e:
        report.add(f"unreadable {path}: {e}")
        return None
    if lines != 1000:
        report.add(f"{path} has {lines} lines, expected 1000")
    return wnids


def _check_present(paths: list[Path], what: str, report: Report, full: bool, sample: int, workers: int):
    """One problem per listed image that is missing; PIL readability of the present ones."""
    present = []
    for p in paths:
        if p.is_file():
            present.append(p)
        else:
            report.add(f"missing image {p} (listed in {what})")
    check_images(_pick(present, full, sample), report, workers)


# --------------------------------------------------------------------------- layouts


def _verify_json(src: DatasetSource, folder: Path, report: Report, full: bool, sample: int, workers: int):
    split_path = folder / src.split_file
    prefix = folder / src.image_prefix if src.image_prefix else folder
    if not split_path.is_file():
        report.add(f"missing split file {split_path}")
        return None
    try:
        lists = read_split(str(split_path), str(prefix))
    except (OSError, SplitFormatError) as e:
        report.add(f"unreadable split file {split_path}: {e}")
        return None
    if not prefix.is_dir():
        report.add(f"missing image folder {prefix}")
    names: dict[int, str] = {}
    for key, items in zip(SPLITS, lists):
        report.counts[key] = len(items)
        for d in items:
            if names.setdefault(d.label, d.classname) != d.classname:
                report.add(f"label {d.label} has two class names: {names[d.label]!r} and {d.classname!r}")
        if prefix.is_dir():
            _check_present([Path(d.impath) for d in items], key, report, full, sample, workers)
    labels = set(names)
    if labels and labels != set(range(len(labels))):
        report.add(f"labels are not 0..{len(labels) - 1}: {sorted(labels)[:5]}...")
    return len(labels)


def _verify_fgvc(src: DatasetSource, folder: Path, report: Report, full: bool, sample: int, workers: int):
    variants_file = folder / "variants.txt"
    if not variants_file.is_file():
        report.add(f"missing {variants_file}")
        return None
    variants = read_fgvc_variants(str(variants_file))
    label_of = {name: i for i, name in enumerate(variants)}
    images = folder / src.image_prefix
    if not images.is_dir():
        report.add(f"missing image folder {images}")
    for key in SPLITS:
        lst = folder / f"images_variant_{key}.txt"
        if not lst.is_file():
            report.add(f"missing list file {lst}")
            continue
        try:
            items = read_fgvc_list(str(lst), label_of, str(images))
        except (OSError, SplitFormatError) as e:
            report.add(str(e))
            continue
        report.counts[key] = len(items)
        if images.is_dir():
            _check_present([Path(d.impath) for d in items], lst.name, report, full, sample, workers)
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
