"""ImageNet-A (test only; 200 sorted wnid folders, README.txt ignored)."""

from ramt.registry import DATASET_REGISTRY

from ._base import WnidFolderTestDataset


@DATASET_REGISTRY.register()
class ImageNetA(WnidFolderTestDataset):
    """Labels are the positions of the sorted wnid folders; names come from ``classnames.txt``."""
