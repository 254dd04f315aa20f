"""ImageNet-V2 matched-frequency (test only): numeric folders 0..999, names from ``classnames.txt``."""

import os

from ramt.config import resolve_cache_dir
from ramt.data.datum import DatasetBase, Datum
from ramt.data.imagenet_index import cached_scan, index_fingerprint
from ramt.data.splits import dataset_info, dataset_root, require_dataset_dir, text_fingerprint
from ramt.registry import DATASET_REGISTRY

from ._base import require_subdir, wnid_classnames


@DATASET_REGISTRY.register()
class ImageNetV2(DatasetBase):
    def __init__(self, cfg):
        root = dataset_root(cfg)
        self.dataset_dir = require_dataset_dir(root, "ImageNetV2")
        self.image_dir = require_subdir(
            os.path.join(self.dataset_dir, dataset_info("ImageNetV2").image_prefix), "ImageNetV2", root
        )
        # Folder i holds class i of ImageNet's classnames.txt (sorted-wnid order).
        names, names_fp = wnid_classnames(self.dataset_dir, None, "ImageNetV2", root)
        folders = [str(i) for i in range(len(names))]
        index = cached_scan(
            resolve_cache_dir(cfg), "ImageNetV2", self.image_dir, folders, verbose=cfg.VERBOSE
        )
        test = [Datum(os.path.join(self.image_dir, rel), lab, classname=names[lab]) for rel, lab in index]
        fingerprint = text_fingerprint(index_fingerprint(index), names_fp)
        super().__init__(test=test, classnames=names, split_fingerprint=fingerprint)
