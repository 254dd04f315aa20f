"""EuroSAT RGB (CoOp split; 10 classes with CoOp's renamed class names)."""

from ramt.registry import DATASET_REGISTRY

from ._base import SplitJSONDataset


@DATASET_REGISTRY.register()
class EuroSAT(SplitJSONDataset):
    """Folder, image prefix and split file: ``ramt.data.splits.DATASET_INFO["EuroSAT"]``."""
