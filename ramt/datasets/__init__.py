"""The suite's dataset classes and the registry's builder (beside them, as in Dassl).

A dataset is one record in the catalogue (``ramt/catalogue.py``). Records in CoOp's split-file
layout (``layout="json"``) or test-only wnid folders (``"folder_test"``) get a class made from
the record (:func:`dataset_class`); a class file here is needed only when the folder layout needs
code (ImageNet, ImageNet-V2, FGVCAircraft, Digits). Every module of this package is imported on
first use, so a new class file needs no import list (see docs/DATASETS.md).
"""

from ramt.registry import DATASET_REGISTRY

from .build import GENERIC_LAYOUTS, build_dataset, dataset_class, resolve_dataset

__all__ = ["GENERIC_LAYOUTS", "build_dataset", "dataset_class"]

# Register the class files and the record-made classes now (tests and plugins look them up by name),
# and let the registry make the class of a record registered later when its name is looked up.
dataset_class("Digits")
DATASET_REGISTRY.add_resolver(resolve_dataset)
