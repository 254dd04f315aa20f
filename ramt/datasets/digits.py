"""Digits: the embedded default dataset (scikit-learn's 1,797 handwritten digits, 10 classes).

Generated once under ``<root>/digits`` in CoOp layout (see :mod:`ramt.data.digits`). With an empty
``DATASET.ROOT`` (and no ``DATA`` variable) it lives in ``<cache dir>/data``.
"""

import os

from ramt.config import resolve_cache_dir
from ramt.data.digits import ensure_digits
from ramt.registry import DATASET_REGISTRY

from ._base import SplitJSONDataset


@DATASET_REGISTRY.register()
class Digits(SplitJSONDataset):
    def _locate(self, cfg) -> str:
        root = cfg.DATASET.ROOT or os.environ.get("DATA", "") or os.path.join(resolve_cache_dir(cfg), "data")
        return ensure_digits(root, verbose=cfg.VERBOSE)
