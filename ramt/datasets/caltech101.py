"""Caltech101 (CoOp split; 100 classes, BACKGROUND_Google and Faces_easy excluded)."""

from ramt.registry import DATASET_REGISTRY

from ._base import SplitJSONDataset


@DATASET_REGISTRY.register()
class Caltech101(SplitJSONDataset):
    """Folder, image prefix and split file: ``ramt.data.splits.DATASET_INFO["Caltech101"]``."""
