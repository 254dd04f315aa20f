"""The dataset registry's builder: a class per catalogue record, made from the record when its
layout needs no code (Dassl keeps ``build_dataset`` beside the dataset classes too)."""

from __future__ import annotations

import functools
import importlib
import pkgutil

from ramt.data.manager import build_dataset
from ramt.data.splits import DATASET_INFO, dataset_info
from ramt.registry import DATASET_REGISTRY

from ._base import SplitJSONDataset, WnidFolderTestDataset

__all__ = ["GENERIC_LAYOUTS", "build_dataset", "dataset_class", "resolve_dataset"]

# Layouts read by a generic class: the record (folder, image prefix, split file) is all they need.
GENERIC_LAYOUTS = {"json": SplitJSONDataset, "folder_test": WnidFolderTestDataset}


@functools.cache
def _import_class_files() -> None:
    """Import every module of this package (the class files register themselves): no hand-kept list."""
    for mod in pkgutil.iter_modules(importlib.import_module(__package__).__path__):
        if not mod.name.startswith("_") and mod.name != "build":
            importlib.import_module(f"{__package__}.{mod.name}")


def _register_records() -> None:
    """Register a generic class for each record of a generic layout that has no class yet."""
    for src in list(DATASET_INFO.values()):
        base = GENERIC_LAYOUTS.get(src.layout)
        if base is not None and src.registry not in DATASET_REGISTRY:
            doc = f"{src.title}: made from its catalogue record ({src.layout} layout, folder {src.folder!r})."
            cls = type(src.registry, (base,), {"__doc__": doc, "__module__": __name__})
            DATASET_REGISTRY.register(cls)


def dataset_class(name: str) -> type:
    """The class of dataset ``name`` (registry or config name): a class file's, or one made from the record."""
    _import_class_files()
    _register_records()
    if name not in DATASET_REGISTRY:
        try:
            name = dataset_info(name).registry
        except KeyError:
            pass
    return DATASET_REGISTRY.get(name)


def resolve_dataset(name: str) -> type | None:
    """The registry's resolver: the class of a record registered after import (None if unknown)."""
    _register_records()
    return DATASET_REGISTRY.get(name) if name in DATASET_REGISTRY else None
