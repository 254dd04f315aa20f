"""Which tensors of the CLIP image encoder carry a mask (method spec section 2.2).

Parameter names are relative to the image encoder (``model.visual``) and follow
OpenAI's / open_clip's naming. The order is fixed: ``conv1.weight`` first, then per
block ``attn.in_proj_weight``, ``attn.out_proj.weight``, ``mlp.c_fc.weight``,
``mlp.c_proj.weight`` (each only when its token is selected).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Union

import torch.nn as nn

__all__ = [
    "VALID_TOKENS",
    "UnsupportedBackboneError",
    "normalize_layers",
    "select_mask_targets",
    "official_mask_key",
    "param_name_from_official_key",
]

VALID_TOKENS = ("attn", "mlp", "conv1", "all")
#: The one message listing which image towers masks support (docs/BACKBONES.md).
SUPPORTED_TOWERS = (
    "Masks are supported on every open_clip VisionTransformer image tower (OpenAI parameter names): "
    "MODEL.BACKBONE.NAME ViT-B/32, ViT-B/16, ViT-L/14, tiny, or an open_clip ViT model such as ViT-B-16, "
    "ViT-B-16-quickgelu, ViT-L-14, ViT-H-14 (with MODEL.BACKBONE.PRETRAINED or MODEL.BACKBONE.PATH). Not "
    "supported: ResNet towers (RN50, RN101, RN50x4, ...) and timm-based towers (SigLIP, EVA, ConvNeXt, ViTamin)."
)
_ALL = ("attn", "mlp", "conv1")


class UnsupportedBackboneError(NotImplementedError):
    """The image encoder is not a ViT with OpenAI/open_clip parameter names."""


def normalize_layers(layers: Union[str, Iterable[str]]) -> tuple[str, ...]:
    """Validate layer tokens and expand ``all``; returns the canonical sorted-by-kind tuple.

    A single string is one token. Raises ValueError for an unknown token or an empty selection.
    """
    if isinstance(layers, str):
        layers = (layers,)
    tokens = [str(t).strip().lower() for t in layers]
    if not tokens:
        raise ValueError(f"MASK.LAYERS is empty; choose tokens from {VALID_TOKENS}.")
    for t in tokens:
        if t not in VALID_TOKENS:
            raise ValueError(
                f"Unknown mask layer token {t!r} in MASK.LAYERS={tuple(layers)!r}; "
                f"valid tokens are {VALID_TOKENS} ('all' = attn + mlp + conv1)."
            )
    chosen = set(_ALL) if "all" in tokens else set(tokens)
    return tuple(t for t in ("conv1", "attn", "mlp") if t in chosen)


def _is_resnet(visual: nn.Module) -> bool:
    if type(visual).__name__ == "ModifiedResNet":
        return True
    return hasattr(visual, "layer1") and hasattr(visual, "attnpool")


def select_mask_targets(visual: nn.Module, layers: Sequence[str] = ("attn", "conv1")) -> list[str]:
    """Names (relative to ``visual``) of the weights that get a mask, in the fixed order."""
    kinds = normalize_layers(layers)
    if _is_resnet(visual):
        raise UnsupportedBackboneError(
            f"Mask tuning of a ResNet image encoder ({type(visual).__name__}) is not supported. {SUPPORTED_TOWERS}"
        )
    params = dict(visual.named_parameters())
    blocks = getattr(getattr(visual, "transformer", None), "resblocks", None)
    if blocks is None or "conv1.weight" not in params:
        raise UnsupportedBackboneError(
            f"Cannot find conv1.weight and transformer.resblocks in the image tower {type(visual).__name__}, so it "
            f"cannot be masked. {SUPPORTED_TOWERS}"
        )
    names: list[str] = []
    if "conv1" in kinds:
        names.append("conv1.weight")
    per_block = []
    if "attn" in kinds:
        per_block += ["attn.in_proj_weight", "attn.out_proj.weight"]
    if "mlp" in kinds:
        per_block += ["mlp.c_fc.weight", "mlp.c_proj.weight"]
    for i in range(len(blocks)):
        for suffix in per_block:
            name = f"transformer.resblocks.{i}.{suffix}"
            if name not in params:
                raise UnsupportedBackboneError(
                    f"Image encoder has no parameter {name!r}; the block layout differs from "
                    "OpenAI CLIP's ViT and cannot be masked."
                )
            names.append(name)
    return names


_OFFICIAL = [
    (re.compile(r"^conv1\.weight$"), "conv1.mask_real"),
    (re.compile(r"^(transformer\.resblocks\.\d+\.attn)\.in_proj_weight$"), r"\1.mask_real"),
    (re.compile(r"^(transformer\.resblocks\.\d+\.attn\.out_proj)\.weight$"), r"\1.mask_real"),
    (re.compile(r"^(transformer\.resblocks\.\d+\.mlp\.c_(?:fc|proj))\.weight$"), r"\1.mask_real"),
]
_FROM_OFFICIAL = [
    (re.compile(r"^conv1\.mask_real$"), "conv1.weight"),
    (re.compile(r"^(transformer\.resblocks\.\d+\.attn)\.mask_real$"), r"\1.in_proj_weight"),
    (re.compile(r"^(transformer\.resblocks\.\d+\.attn\.out_proj)\.mask_real$"), r"\1.weight"),
    (re.compile(r"^(transformer\.resblocks\.\d+\.mlp\.c_(?:fc|proj))\.mask_real$"), r"\1.weight"),
]


def official_mask_key(param_name: str) -> str:
    """The official release's key for the mask of ``param_name`` (e.g. ``conv1.mask_real``)."""
    for pat, repl in _OFFICIAL:
        if pat.match(param_name):
            return pat.sub(repl, param_name)
    raise ValueError(f"{param_name!r} is not a maskable image-encoder weight.")


def param_name_from_official_key(key: str) -> str:
    """Inverse of :func:`official_mask_key`."""
    for pat, repl in _FROM_OFFICIAL:
        if pat.match(key):
            return pat.sub(repl, key)
    raise ValueError(f"{key!r} is not an official R-AMT mask key.")
