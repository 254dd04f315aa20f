"""Food-101 (CoOp 50/20/30 split, not the official one; 101 classes)."""

from ramt.registry import DATASET_REGISTRY

from ._base import SplitJSONDataset


@DATASET_REGISTRY.register()
class Food101(SplitJSONDataset):
    """Folder, image prefix and split file: ``ramt.data.splits.DATASET_INFO["Food101"]``."""
