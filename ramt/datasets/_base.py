"""Shared building blocks of the dataset classes (not a dataset itself)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Optional

from ramt.catalogue import IMAGENET_CLASSNAMES_GDRIVE_ID
from ramt.config import resolve_cache_dir
from ramt.data.datum import DatasetBase, Datum
from ramt.data.fewshot import load_or_sample_fewshot, subsample_classes
from ramt.data.imagenet_index import (
    cached_scan,
    imagenet_fallback_classnames,
    index_fingerprint,
    list_class_folders,
    read_classnames,
)
from ramt.data.splits import (
    DatasetNotFoundError,
    dataset_info,
    dataset_root,
    file_fingerprint,
    read_split,
    require_dataset_dir,
    text_fingerprint,
)


class SplitJSONDataset(DatasetBase):
    """A dataset read from a CoOp split file; the folder, image prefix and split file come from
    :data:`ramt.data.splits.DATASET_INFO` under the class name (``info_name`` overrides it)."""

    info_name: Optional[str] = None

    def _locate(self, cfg) -> str:
        """Return the dataset folder (overridden by Digits, which generates itself)."""
        return require_dataset_dir(dataset_root(cfg), self._info.registry)

    def __init__(self, cfg):
        self._info = dataset_info(self.info_name or type(self).__name__)
        self.dataset_dir = self._locate(cfg)
        self.image_dir = os.path.join(self.dataset_dir, self._info.image_prefix)
        self.split_path = os.path.join(self.dataset_dir, self._info.split_file)
        train, val, test = self.read_lists()
        fingerprint = self.fingerprint()
        train, val = load_or_sample_fewshot(cfg, self._info.registry, train, val, self.image_dir, fingerprint)
        train, val, test = subsample_classes(train, val, test, subsample=cfg.DATASET.SUBSAMPLE_CLASSES)
        super().__init__(train_x=train, val=val, test=test, split_fingerprint=fingerprint)

    def read_lists(self) -> tuple[list[Datum], list[Datum], list[Datum]]:
        return read_split(self.split_path, self.image_dir)

    def fingerprint(self) -> str:
        return file_fingerprint(self.split_path)

    @property
    def fingerprint_inputs(self) -> Optional[tuple[str, ...]]:
        """The files whose content alone decides :meth:`fingerprint` (None: not declared, e.g. overridden)."""
        return (self.split_path,) if type(self).fingerprint is SplitJSONDataset.fingerprint else None


# ------------------------------------------------------------------ ImageNet-style folders


def wnid_classnames(
    dataset_dir: str, wnids: Optional[Sequence[str]], dataset_name: str, root: str
) -> tuple[list[str], str]:
    """Class names for ``wnids`` from ``classnames.txt``; returns ``(names, fingerprint_of_names)``.

    ``wnids=None`` means every class of the file, in file order (ImageNet's 1,000, sorted by wnid).
    Looks in the dataset folder, then in ``<root>/imagenet/``. For the full 1,000 classes it falls
    back to open_clip's ImageNet names (sorted-wnid order) and says so.
    """
    candidates = [
        os.path.join(dataset_dir, "classnames.txt"),
        os.path.join(root, "imagenet", "classnames.txt"),
    ]
    for path in candidates:
        if os.path.isfile(path):
            if path != candidates[0]:
                print(f"Note: {candidates[0]} not found; using ImageNet's class names from {path}")
            mapping = read_classnames(path)
            if wnids is None:
                return list(mapping.values()), file_fingerprint(path)
            missing = [w for w in wnids if w not in mapping]
            if missing:
                raise ValueError(
                    f"Dataset {dataset_name}: {path} has no class name for {len(missing)} class folder(s), "
                    f"e.g. {missing[0]!r}. Use ImageNet's classnames.txt (Google Drive id "
                    f"{IMAGENET_CLASSNAMES_GDRIVE_ID}); see docs/DATASETS.md."
                )
            return [mapping[w] for w in wnids], file_fingerprint(path)
    if wnids is None or len(wnids) == 1000:
        names = imagenet_fallback_classnames()
        print(
            f"Note: {candidates[0]} not found; using open_clip's ImageNet class names in sorted-wnid "
            f"order. Download classnames.txt (Google Drive id {IMAGENET_CLASSNAMES_GDRIVE_ID}) into "
            f"{dataset_dir} to use the project's file (see docs/DATASETS.md)."
        )
        return names, text_fingerprint("\n".join(names))
    raise DatasetNotFoundError(
        f"Dataset {dataset_name}: class names not found at {candidates[0]}. Copy ImageNet's classnames.txt "
        f"(Google Drive id {IMAGENET_CLASSNAMES_GDRIVE_ID}) there; see docs/DATASETS.md."
    )


def require_subdir(path: str, dataset_name: str, root: str) -> str:
    if not os.path.isdir(path):
        info = dataset_info(dataset_name)
        raise DatasetNotFoundError(
            f"Dataset {dataset_name}: image folder {path} not found. Prepare the dataset in the layout of "
            f"docs/DATASETS.md (`python -m ramt.data.prepare {info.config_name} --root {root}`), or pass "
            "the right --root / set DATA."
        )
    return path


class WnidFolderTestDataset(DatasetBase):
    """A test-only dataset laid out as ``<prefix>/<wnid>/<image>``: labels = sorted wnid positions."""

    def __init__(self, cfg):
        name = type(self).__name__
        info = dataset_info(name)
        root = dataset_root(cfg)
        self.dataset_dir = require_dataset_dir(root, name)
        self.image_dir = require_subdir(os.path.join(self.dataset_dir, info.image_prefix), name, root)
        wnids = list_class_folders(self.image_dir)
        if not wnids:
            raise DatasetNotFoundError(f"Dataset {name}: no class folders in {self.image_dir}.")
        names, names_fp = wnid_classnames(self.dataset_dir, wnids, name, root)
        index = cached_scan(resolve_cache_dir(cfg), name, self.image_dir, wnids, verbose=cfg.VERBOSE)
        join = os.path.join
        test = [Datum(join(self.image_dir, rel), lab, classname=names[lab]) for rel, lab in index]
        fp = text_fingerprint(index_fingerprint(index), names_fp)
        super().__init__(test=test, classnames=names, split_fingerprint=fp)
