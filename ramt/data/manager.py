"""DataManager, the dataset wrapper and the loader builder (Dassl names, lazy loaders)."""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from typing import Optional

import torch
from tabulate import tabulate
from torch.utils.data import DataLoader, Dataset, RandomSampler, SequentialSampler

from ramt.clip.spec import backbone_spec
from ramt.registry import DATASET_REGISTRY

from .datum import Datum
from .image_cache import cached_eval_loader, originals_source
from .images import BadImageError, DecodeImages, ImageSource, read_image
from .transforms import build_to_tensor, build_transform
from .workers import worker_init

__all__ = [
    "BadImageError",
    "DataManager",
    "DatasetWrapper",
    "build_data_loader",
    "build_dataset",
    "read_image",
]


def build_dataset(cfg):
    """Construct the dataset named by ``cfg.DATASET.NAME`` from the registry.

    The data layer does not import the dataset classes (they import it): the registry imports
    ``ramt.datasets``, which registers them, on its first lookup.
    """
    name = cfg.DATASET.NAME
    if not name:
        raise ValueError(
            "DATASET.NAME is empty. Pass --dataset-config-file <name> or a yaml path "
            "(e.g. --dataset-config-file digits or configs/datasets/digits.yaml)."
        )
    if cfg.VERBOSE:
        print(f"Loading dataset: {name}")
    return DATASET_REGISTRY.get(name)(cfg)


class DatasetWrapper(Dataset):
    """Turn a list of :class:`Datum` into dict samples (``img``, ``label``, ``domain``, ``impath``, ``index``).

    An unreadable image raises :class:`BadImageError` naming its path. (With
    ``DATASET.SKIP_BAD_IMAGES`` the :class:`DataManager` has already dropped unreadable images
    from the split, see :func:`drop_bad_images`.)
    """

    def __init__(
        self,
        cfg,
        data_source: Sequence[Datum],
        transform=None,
        is_train: bool = False,
        images: Optional[ImageSource] = None,
    ):
        self.cfg = cfg
        self.images = images if images is not None else DecodeImages()
        self.data_source = data_source
        self.transform = transform
        self.is_train = is_train
        self.k_tfm = int(cfg.DATALOADER.K_TRANSFORMS) if is_train else 1
        self.return_img0 = bool(cfg.DATALOADER.RETURN_IMG0)
        if self.k_tfm > 1 and transform is None:
            raise ValueError("DATALOADER.K_TRANSFORMS > 1 needs a transform (INPUT.NO_TRANSFORM is True).")
        self.to_tensor = build_to_tensor(cfg)

    def __len__(self) -> int:
        return len(self.data_source)

    def __getitem__(self, idx: int) -> dict:
        idx, item, img0 = self.images.load(self.data_source, idx)
        output = {"label": item.label, "domain": item.domain, "impath": item.impath, "index": idx}
        if self.transform is None:
            output["img"] = self.to_tensor(img0)
        elif self.k_tfm > 1:
            output["img"] = [self.transform(img0) for _ in range(self.k_tfm)]
        else:
            output["img"] = self.transform(img0)
        if self.return_img0:
            output["img0"] = self.to_tensor(img0)
        return output


_SAMPLERS = ("RandomSampler", "SequentialSampler")


def build_data_loader(
    cfg,
    data_source: Sequence[Datum],
    batch_size: int,
    tfm=None,
    is_train: bool = True,
    shuffle: Optional[bool] = None,
    sampler_type: Optional[str] = None,
    drop_last: Optional[bool] = None,
    dataset_wrapper=None,
) -> DataLoader:
    """A DataLoader over ``data_source``.

    ``drop_last`` defaults to ``is_train and len(data_source) >= batch_size`` (so tiny few-shot
    sets still give one batch); ``shuffle`` overrides the sampler type from the config.
    """
    if data_source is None or len(data_source) == 0:
        raise ValueError(
            "Cannot build a data loader over an empty data source; check the split file, NUM_SHOTS "
            "and SUBSAMPLE_CLASSES."
        )
    if batch_size < 1:
        raise ValueError(f"Batch size must be >= 1, got {batch_size}")
    if shuffle is not None:
        sampler_type = "RandomSampler" if shuffle else "SequentialSampler"
    elif sampler_type is None:
        sampler_type = cfg.DATALOADER.TRAIN_X.SAMPLER if is_train else cfg.DATALOADER.TEST.SAMPLER
    if sampler_type not in _SAMPLERS:
        raise ValueError(f"Unknown sampler {sampler_type!r}; supported: {', '.join(_SAMPLERS)}.")
    pin_memory = bool(cfg.USE_CUDA and torch.cuda.is_available())
    images = None
    if dataset_wrapper is None:
        # Decoded-image caches (DATALOADER.IMAGE_CACHE, docs/SPEED.md): same tensors, no re-decoding.
        if is_train:
            images = originals_source(cfg, data_source, tfm)
        elif not drop_last:
            cached = cached_eval_loader(cfg, data_source, batch_size, tfm, sampler_type, pin_memory)
            if cached is not None:
                return cached
    if images is not None:
        wrapper = DatasetWrapper(cfg, data_source, transform=tfm, is_train=is_train, images=images)
    else:
        wrapper = (dataset_wrapper or DatasetWrapper)(cfg, data_source, transform=tfm, is_train=is_train)
    sampler = RandomSampler(wrapper) if sampler_type == "RandomSampler" else SequentialSampler(wrapper)
    if drop_last is None:
        drop_last = bool(is_train and len(data_source) >= batch_size)
    # Never more workers than CPU cores (the configs ask for CoOp's 8).
    num_workers = max(0, min(int(cfg.DATALOADER.NUM_WORKERS), os.cpu_count() or 1))
    return DataLoader(
        wrapper,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=num_workers,
        drop_last=drop_last,
        pin_memory=pin_memory,
        # Fresh workers each epoch: their seeds come from the main RNG, so a resumed run
        # draws the same augmentations as an uninterrupted one.
        persistent_workers=False,
        worker_init_fn=worker_init() if num_workers else None,
    )


class _ImageCheck(Dataset):
    """``(index, error)`` per image; ``error`` is "" for a readable image."""

    def __init__(self, impaths: Sequence[str]) -> None:
        self.impaths = impaths

    def __len__(self) -> int:
        return len(self.impaths)

    def __getitem__(self, idx: int):
        try:
            read_image(self.impaths[idx])
            return idx, ""
        except BadImageError as e:
            return idx, str(e)


ALL_SPLITS = ("train_x", "val", "test")


def drop_bad_images(dataset, num_workers: int = 0, splits: Sequence[str] = ALL_SPLITS) -> list[str]:
    """Decode every image of ``splits`` once and drop the unreadable ones from them (in place).

    Returns their paths (sorted). A dropped image is not replaced: the split is smaller by one.
    Splits the run never reads (zero-shot's training set) are neither decoded nor counted.
    """
    impaths = sorted({d.impath for split in splits for d in (getattr(dataset, split) or [])})
    loader = DataLoader(
        _ImageCheck(impaths),
        batch_size=64,
        num_workers=max(0, min(int(num_workers), os.cpu_count() or 1)),
        collate_fn=lambda batch: batch,
        worker_init_fn=worker_init(),
    )
    bad = [impaths[i] for chunk in loader for i, err in chunk if err]
    if bad:
        dataset.drop_items(bad)
    return bad


def report_bad_images(bad: Sequence[str], limit: int = 20) -> None:
    """Print the count and paths of the dropped images (into log.txt when logging)."""
    if not bad:
        return
    print(f"Skipped {len(bad)} bad image(s) (DATASET.SKIP_BAD_IMAGES True); they are dropped from the split:")
    for path in bad[:limit]:
        print(f"  {path}")
    if len(bad) > limit:
        print(f"  ... and {len(bad) - limit} more (all listed in results.json)")


def check_files(dataset) -> None:
    """One pass over every listed image (``DATASET.CHECK_FILES``); raise listing the missing ones."""
    lists = [dataset.train_x, dataset.val or [], dataset.test]
    missing = [d.impath for items in lists for d in items if not os.path.isfile(d.impath)]
    if missing:
        shown = "\n  ".join(missing[:10])
        raise FileNotFoundError(
            f"{len(missing)} listed image(s) of {type(dataset).__name__} do not exist, e.g.\n  {shown}\n"
            "Check DATASET.ROOT and that the dataset is fully extracted (see docs/DATASETS.md)."
        )


class DataManager:
    """Build the dataset, its transforms and (lazily) its loaders."""

    def __init__(
        self,
        cfg,
        dataset=None,
        custom_tfm_train=None,
        custom_tfm_test=None,
        splits: Sequence[str] = ALL_SPLITS,
    ):
        """``splits``: the splits the run reads images of (``DATASET.SKIP_BAD_IMAGES`` checks only these)."""
        self.cfg = cfg
        self._dataset = dataset if dataset is not None else build_dataset(cfg)
        if cfg.DATASET.CHECK_FILES:
            check_files(self._dataset)
        self.bad_images: list[str] = []
        if cfg.DATASET.SKIP_BAD_IMAGES:
            self.bad_images = drop_bad_images(self._dataset, cfg.DATALOADER.NUM_WORKERS, splits)
            report_bad_images(self.bad_images)
        self.preprocess = backbone_spec(cfg).preprocess  # resolved once per run
        if not cfg.INPUT.NO_TRANSFORM:
            print(f"Preprocessing: {self.preprocess.describe()} ({self.preprocess.source})")
        self.tfm_train = (
            custom_tfm_train
            if custom_tfm_train is not None
            else build_transform(cfg, is_train=True, preprocess=self.preprocess)
        )
        self.tfm_test = (
            custom_tfm_test
            if custom_tfm_test is not None
            else build_transform(cfg, is_train=False, preprocess=self.preprocess)
        )
        if cfg.VERBOSE:
            self.show_dataset_summary()

    @property
    def dataset(self):
        return self._dataset

    @property
    def num_classes(self) -> int:
        return self._dataset.num_classes

    @property
    def lab2cname(self) -> dict:
        return self._dataset.lab2cname

    @property
    def classnames(self) -> list:
        return self._dataset.classnames

    @property
    def num_source_domains(self) -> int:
        return getattr(self._dataset, "num_source_domains", 1)

    @functools.cached_property
    def train_loader_x(self) -> DataLoader:
        return build_data_loader(
            self.cfg,
            self._dataset.train_x,
            self.cfg.DATALOADER.TRAIN_X.BATCH_SIZE,
            self.tfm_train,
            is_train=True,
            sampler_type=self.cfg.DATALOADER.TRAIN_X.SAMPLER,
        )

    @functools.cached_property
    def val_loader(self) -> Optional[DataLoader]:
        if not self._dataset.val:
            return None
        return build_data_loader(
            self.cfg,
            self._dataset.val,
            self.cfg.DATALOADER.TEST.BATCH_SIZE,
            self.tfm_test,
            is_train=False,
            sampler_type=self.cfg.DATALOADER.TEST.SAMPLER,
        )

    @functools.cached_property
    def test_loader(self) -> DataLoader:
        return build_data_loader(
            self.cfg,
            self._dataset.test,
            self.cfg.DATALOADER.TEST.BATCH_SIZE,
            self.tfm_test,
            is_train=False,
            sampler_type=self.cfg.DATALOADER.TEST.SAMPLER,
        )

    def show_dataset_summary(self) -> None:
        ds = self._dataset
        table = [["Dataset", self.cfg.DATASET.NAME or type(ds).__name__]]
        if self.cfg.DATASET.SOURCE_DOMAINS:
            table.append(["Source", self.cfg.DATASET.SOURCE_DOMAINS])
        if self.cfg.DATASET.TARGET_DOMAINS:
            table.append(["Target", self.cfg.DATASET.TARGET_DOMAINS])
        table.append(["# classes", f"{ds.num_classes:,}"])
        if ds.train_x:
            table.append(["# train_x", f"{len(ds.train_x):,}"])
        if ds.train_u:
            table.append(["# train_u", f"{len(ds.train_u):,}"])
        if ds.val:
            table.append(["# val", f"{len(ds.val):,}"])
        table.append(["# test", f"{len(ds.test):,}"])
        print(tabulate(table, tablefmt="plain", disable_numparse=True))
