"""ImageNet-V2 matched-frequency (test only): numeric folders 0..999, names from ``classnames.txt``."""

import os

from ramt.config import resolve_cache_dir
from ramt.data.datum import DatasetBase, Datum
from ramt.data.imagenet_index import (
    cached_scan,
    imagenet_fallback_classnames,
    index_fingerprint,
    read_classnames,
)
from ramt.data.splits import (
    IMAGENET_CLASSNAMES_DRIVE_ID,
    dataset_root,
    file_fingerprint,
    require_dataset_dir,
    text_fingerprint,
)
from ramt.registry import DATASET_REGISTRY

from ._base import require_subdir


@DATASET_REGISTRY.register()
class ImageNetV2(DatasetBase):
    def __init__(self, cfg):
        root = dataset_root(cfg)
        self.dataset_dir = require_dataset_dir(root, "ImageNetV2")
        self.image_dir = require_subdir(
            os.path.join(self.dataset_dir, "imagenetv2-matched-frequency-format-val"), "ImageNetV2", root
        )
        cn_path = os.path.join(self.dataset_dir, "classnames.txt")
        if os.path.isfile(cn_path):
            names = list(read_classnames(cn_path).values())
            names_fp = file_fingerprint(cn_path)
        else:
            names = imagenet_fallback_classnames()
            names_fp = text_fingerprint("\n".join(names))
            print(
                f"Note: {cn_path} not found; using open_clip's ImageNet class names in sorted-wnid order. "
                f"Copy ImageNet's classnames.txt (Google Drive id {IMAGENET_CLASSNAMES_DRIVE_ID}) there "
                "to use the project's file (see docs/DATASETS.md)."
            )
        folders = [str(i) for i in range(len(names))]
        index = cached_scan(
            resolve_cache_dir(cfg), "ImageNetV2", self.image_dir, folders, verbose=cfg.VERBOSE
        )
        test = [Datum(os.path.join(self.image_dir, rel), lab, classname=names[lab]) for rel, lab in index]
        fingerprint = text_fingerprint(index_fingerprint(index), names_fp)
        super().__init__(test=test, classnames=names, split_fingerprint=fingerprint)
