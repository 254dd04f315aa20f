"""SUN397 (CoOp split of Training_01/Testing_01; 397 classes)."""

from ramt.registry import DATASET_REGISTRY

from ._base import SplitJSONDataset


@DATASET_REGISTRY.register()
class SUN397(SplitJSONDataset):
    """Folder, image prefix and split file: ``ramt.data.splits.DATASET_INFO["SUN397"]``."""
