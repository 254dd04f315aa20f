"""ImageNet-Sketch (test only; 1,000 sorted wnid folders)."""

from ramt.registry import DATASET_REGISTRY

from ._base import WnidFolderTestDataset


@DATASET_REGISTRY.register()
class ImageNetSketch(WnidFolderTestDataset):
    """Labels are the positions of the sorted wnid folders; names come from ``classnames.txt``."""
