"""ImageNet (ILSVRC-2012): folder scan of ``images/train`` and ``images/val`` plus ``classnames.txt``.

Test = the official val set. Few-shot val (project rule) = min(K, 4) per class drawn from the train
images not in the few-shot train set, right after the train draw, cached with it.
"""

import os

from ramt.config import resolve_cache_dir
from ramt.data.datum import DatasetBase, Datum
from ramt.data.fewshot import load_or_sample_fewshot, subsample_classes
from ramt.data.imagenet_index import cached_scan, index_fingerprint, list_class_folders
from ramt.data.splits import dataset_root, require_dataset_dir, text_fingerprint
from ramt.registry import DATASET_REGISTRY

from ._base import require_subdir, wnid_classnames


@DATASET_REGISTRY.register()
class ImageNet(DatasetBase):
    def __init__(self, cfg):
        root = dataset_root(cfg)
        self.dataset_dir = require_dataset_dir(root, "ImageNet")
        self.image_dir = os.path.join(self.dataset_dir, "images")
        train_dir = require_subdir(os.path.join(self.image_dir, "train"), "ImageNet", root)
        val_dir = require_subdir(os.path.join(self.image_dir, "val"), "ImageNet", root)
        wnids = list_class_folders(train_dir)
        names, names_fp = wnid_classnames(self.dataset_dir, wnids, "ImageNet", root)
        cache = resolve_cache_dir(cfg)
        train_idx = cached_scan(cache, "ImageNet-train", train_dir, wnids, verbose=cfg.VERBOSE)
        test_idx = cached_scan(cache, "ImageNet-val", val_dir, wnids, verbose=cfg.VERBOSE)
        join = os.path.join
        img = self.image_dir
        train = [Datum(join(img, "train", rel), lab, classname=names[lab]) for rel, lab in train_idx]
        test = [Datum(join(img, "val", rel), lab, classname=names[lab]) for rel, lab in test_idx]
        fingerprint = text_fingerprint(index_fingerprint(train_idx), names_fp)

        val = None
        if cfg.DATASET.NUM_SHOTS >= 1:
            train, val = load_or_sample_fewshot(
                cfg, "ImageNet", train, None, self.image_dir, fingerprint, val_from_train=True
            )
        train, val, test = subsample_classes(train, val or [], test, subsample=cfg.DATASET.SUBSAMPLE_CLASSES)
        super().__init__(train_x=train, val=val or None, test=test, split_fingerprint=fingerprint)
