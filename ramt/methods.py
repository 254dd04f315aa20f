"""Method labels and dataset names shared by the reporting tools.

``method_label`` turns a run's (nested) config into the name a results table uses, so that
every part of the suite labels a run the same way. ``PUBLISHED_NAME`` says which row of the
published table each of our labels is compared with, and the dataset helpers translate between
registry names, config names and the names the paper prints.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ramt.data.sources import CATALOGUE

__all__ = [
    "COMPARABLE_BACKBONE",
    "DATASET_CONFIG_TO_REGISTRY",
    "DG_TARGETS",
    "FEWSHOT_DATASETS",
    "METHOD_ORDER",
    "PAPER_DATASETS",
    "PUBLISHED_NAME",
    "cfg_get",
    "dataset_config_name",
    "mask_variant",
    "method_label",
    "paper_dataset_name",
]

# The 11 few-shot datasets by config name (the yaml stem used in output folders), paper order.
FEWSHOT_DATASETS: tuple[str, ...] = (
    "imagenet",
    "caltech101",
    "oxford_pets",
    "stanford_cars",
    "oxford_flowers",
    "food101",
    "fgvc_aircraft",
    "sun397",
    "dtd",
    "eurosat",
    "ucf101",
)

# Config name -> registry name, from the one dataset catalogue (stdlib only, cheap to import).
DATASET_CONFIG_TO_REGISTRY: dict[str, str] = {name: src.registry for name, src in CATALOGUE.items()}
_REGISTRY_TO_CONFIG = {v: k for k, v in DATASET_CONFIG_TO_REGISTRY.items()}

# Registry names whose paper name differs; every other name is printed as is.
_PAPER_NAME = {
    "OxfordFlowers": "Flowers102",
    "DescribableTextures": "DTD",
    "ImageNetV2": "ImageNet-V2",
    "ImageNetSketch": "ImageNet-Sketch",
    "ImageNetA": "ImageNet-A",
    "ImageNetR": "ImageNet-R",
}

# Paper names of the 11 few-shot datasets, in the paper's column order.
PAPER_DATASETS: tuple[str, ...] = tuple(
    _PAPER_NAME.get(DATASET_CONFIG_TO_REGISTRY[c], DATASET_CONFIG_TO_REGISTRY[c]) for c in FEWSHOT_DATASETS
)
# Domain-generalisation targets (paper names), in table order.
DG_TARGETS: tuple[str, ...] = ("ImageNet-V2", "ImageNet-Sketch", "ImageNet-A", "ImageNet-R")

# The backbone of every published number.
COMPARABLE_BACKBONE = "ViT-B/16"

# Our label -> the method name of the published table it is compared with (baselines.md §3.6:
# the published "Tip-Adapter" row is read as Tip-Adapter-F).
PUBLISHED_NAME: dict[str, str] = {
    "ZeroShotCLIP": "ZeroShotCLIP",
    "R-AMT": "R-AMT",
    "AMT": "AMT",
    "CoOp": "CoOp",
    "CoOp+R-AMT": "CoOp+R-AMT",
    "Tip-Adapter-F": "Tip-Adapter",
    "Tip-Adapter-F+R-AMT": "Tip-Adapter+R-AMT",
}

# Row order of the tables; labels not listed here follow in alphabetical order.
METHOD_ORDER: tuple[str, ...] = (
    "ZeroShotCLIP",
    "CoOp",
    "Tip-Adapter",
    "Tip-Adapter-F",
    "AMT",
    "R-AMT",
    "MMT",
    "R-MMT",
    "PMT",
    "R-PMT",
    "CoOp+R-AMT",
    "Tip-Adapter+R-AMT",
    "Tip-Adapter-F+R-AMT",
)


def cfg_get(cfg: Mapping[str, Any] | None, dotted: str, default: Any = None) -> Any:
    """``cfg_get(cfg, "MASK.GDR")``: walk a nested mapping by a dotted key, ``default`` if absent."""
    node: Any = cfg
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return default
        node = node[part]
    return node


def _as_bool(value: Any, default: bool) -> bool:
    if value is None:
        return default
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def _layers(value: Any) -> set[str]:
    """Normalise MASK.LAYERS (tuple, list, or a string such as ``"attn,conv1"``) to a set."""
    if value is None:
        return {"attn", "conv1"}
    if isinstance(value, str):
        cleaned = value
        for ch in "()[]'\"":
            cleaned = cleaned.replace(ch, " ")
        parts = cleaned.replace(",", " ").replace("+", " ").split()
    else:
        parts = [str(v) for v in value]
    return {p.strip().lower() for p in parts if p.strip()}


def mask_variant(cfg: Mapping[str, Any] | None) -> str:
    """The mask method named by the MASK block: R-AMT / R-MMT / R-PMT, or AMT / MMT / PMT without GDR."""
    layers = _layers(cfg_get(cfg, "MASK.LAYERS"))
    if _as_bool(cfg_get(cfg, "MASK.MASK_MLP"), False) or "all" in layers:
        base = "PMT"
    elif "mlp" in layers and "attn" in layers:
        base = "PMT"
    elif "mlp" in layers:
        base = "MMT"
    else:
        base = "AMT"
    gdr = _as_bool(cfg_get(cfg, "MASK.GDR"), True)
    return f"R-{base}" if gdr else base


def method_label(cfg: Mapping[str, Any] | None) -> str:
    """The table label of a run, from its nested config dict (keys as in the yacs config)."""
    trainer = str(cfg_get(cfg, "TRAINER.NAME", "") or "")
    finetune = _as_bool(cfg_get(cfg, "TRAINER.TIP.FINETUNE"), False)
    if trainer in ("ZeroshotCLIP", "ZeroshotCLIP2"):
        return "ZeroShotCLIP"
    if trainer in ("RAMT", "MaskTuning"):
        return mask_variant(cfg)
    if trainer == "CoOp":
        return "CoOp"
    if trainer == "TipAdapter":
        return "Tip-Adapter-F" if finetune else "Tip-Adapter"
    if trainer == "CoOpRAMT":
        return "CoOp+" + mask_variant(cfg)
    if trainer == "TipAdapterRAMT":
        host = "Tip-Adapter-F" if finetune else "Tip-Adapter"
        return f"{host}+{mask_variant(cfg)}"
    return trainer or "unknown"


def paper_dataset_name(name: str) -> str:
    """Registry name or config name -> the name the paper prints (``OxfordFlowers`` -> ``Flowers102``)."""
    registry = DATASET_CONFIG_TO_REGISTRY.get(name, name)
    return _PAPER_NAME.get(registry, registry)


def dataset_config_name(name: str) -> str:
    """Registry (or paper) name -> config name; unknown names are lower-cased."""
    if name in DATASET_CONFIG_TO_REGISTRY:
        return name
    if name in _REGISTRY_TO_CONFIG:
        return _REGISTRY_TO_CONFIG[name]
    for registry, paper in _PAPER_NAME.items():
        if paper == name:
            return _REGISTRY_TO_CONFIG[registry]
    return name.lower()


def method_sort_key(label: str) -> tuple[int, str]:
    """Sort key putting labels in ``METHOD_ORDER``, unknown ones after, alphabetically."""
    try:
        return (METHOD_ORDER.index(label), label)
    except ValueError:
        return (len(METHOD_ORDER), label)


def dataset_sort_key(paper_name: str) -> tuple[int, str]:
    """Sort key putting the paper's datasets first (paper order), then the DG targets, then others."""
    order = PAPER_DATASETS + DG_TARGETS
    try:
        return (order.index(paper_name), paper_name)
    except ValueError:
        return (len(order), paper_name)
