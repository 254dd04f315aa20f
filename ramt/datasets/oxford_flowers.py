"""Oxford Flowers-102 (CoOp split; 102 classes)."""

from ramt.registry import DATASET_REGISTRY

from ._base import SplitJSONDataset


@DATASET_REGISTRY.register()
class OxfordFlowers(SplitJSONDataset):
    """Folder, image prefix and split file: ``ramt.data.splits.DATASET_INFO["OxfordFlowers"]``."""
