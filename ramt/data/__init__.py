"""Data layer: Datum/DatasetBase, CoOp split files, few-shot sampling + cache, transforms, loaders.

The torch-dependent parts (``DataManager``, ``build_data_loader``, ``build_transform``...) are
imported lazily on first attribute access.
"""

from .datum import DatasetBase, Datum, get_lab2cname, get_num_classes, split_dataset_by_label
from .fewshot import (
    SAMPLER_VERSION,
    FewshotCacheError,
    generate_fewshot,
    load_or_sample_fewshot,
    subsample_classes,
)
from .splits import (
    DATASET_INFO,
    DatasetNotFoundError,
    SplitFileNotFoundError,
    SplitFormatError,
    dataset_info,
    file_fingerprint,
    read_split,
    write_split,
)

_LAZY = {
    "DataManager": "manager",
    "DatasetWrapper": "manager",
    "BadImageError": "images",
    "build_data_loader": "manager",
    "build_dataset": "manager",
    "build_transform": "transforms",
    "ensure_digits": "digits",
}

__all__ = [
    "Datum",
    "DatasetBase",
    "split_dataset_by_label",
    "get_num_classes",
    "get_lab2cname",
    "SAMPLER_VERSION",
    "FewshotCacheError",
    "generate_fewshot",
    "subsample_classes",
    "load_or_sample_fewshot",
    "DATASET_INFO",
    "DatasetNotFoundError",
    "SplitFileNotFoundError",
    "SplitFormatError",
    "dataset_info",
    "file_fingerprint",
    "read_split",
    "write_split",
    *_LAZY,
]


def __getattr__(name):
    if name in _LAZY:
        import importlib

        module = importlib.import_module(f".{_LAZY[name]}", __name__)
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
