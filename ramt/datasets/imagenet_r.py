"""ImageNet-R (test only; 200 sorted wnid folders)."""

from ramt.registry import DATASET_REGISTRY

from ._base import WnidFolderTestDataset


@DATASET_REGISTRY.register()
class ImageNetR(WnidFolderTestDataset):
    """Labels are the positions of the sorted wnid folders; names come from ``classnames.txt``."""
