"""Stanford Cars (CoOp split; paths relative to the dataset folder; 196 classes)."""

from ramt.registry import DATASET_REGISTRY

from ._base import SplitJSONDataset


@DATASET_REGISTRY.register()
class StanfordCars(SplitJSONDataset):
    """Folder, image prefix and split file: ``ramt.data.splits.DATASET_INFO["StanfordCars"]``."""
