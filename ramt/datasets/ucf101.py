"""UCF101 middle frames (CoOp split of trainlist01/testlist01; 101 classes)."""

from ramt.registry import DATASET_REGISTRY

from ._base import SplitJSONDataset


@DATASET_REGISTRY.register()
class UCF101(SplitJSONDataset):
    """Folder, image prefix and split file: ``ramt.data.splits.DATASET_INFO["UCF101"]``."""
