"""Describable Textures (CoOp split; 47 classes)."""

from ramt.registry import DATASET_REGISTRY

from ._base import SplitJSONDataset


@DATASET_REGISTRY.register()
class DescribableTextures(SplitJSONDataset):
    """Folder, image prefix and split file: ``ramt.data.splits.DATASET_INFO["DescribableTextures"]``."""
