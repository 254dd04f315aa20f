"""Text and image feature helpers on top of an open_clip ``CLIP`` (small, mostly pure functions).

The text tower is run by :func:`_text_tower` from token *embeddings*, so that plain token ids
(:func:`encode_text_tokens`) and CoOp's learned prompt embeddings
(:func:`encode_prompt_embeddings`) share one implementation. With ``truncate=True`` the
transformer only runs over the first ``max(EOT) + 1`` positions of the batch: under CLIP's
causal mask no position attends to later ones, so the pooled EOT features are unchanged
(up to float rounding).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Optional, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .backend import get_tokenizer

__all__ = [
    "build_text_classifier",
    "encode_images",
    "encode_prompt_embeddings",
    "encode_text_tokens",
    "format_classnames",
    "normalize",
    "tokenize",
]

Device = Union[str, torch.device]


def tokenize(texts: Union[str, Sequence[str]]) -> Tensor:
    """CLIP BPE token ids, ``LongTensor [N, 77]`` (SOT ... EOT, zero padded; over-long text is cut)."""
    if isinstance(texts, str):
        texts = [texts]
    return get_tokenizer()(list(texts)).long()


def normalize(x: Tensor) -> Tensor:
    """L2-normalise along the last dimension."""
    return F.normalize(x, dim=-1)


def _model_device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def _text_tower(
    model: nn.Module, x: Tensor, tokens: Tensor, truncate: bool, cast_dtype: Optional[torch.dtype] = None
) -> Tensor:
    """CLIP's text transformer from token embeddings ``x [N, L, W]``; pooled at ``tokens.argmax``.

    ``cast_dtype`` overrides the dtype the embeddings are cast to (default: the tower's)."""
    pool = getattr(model, "text_pool_type", "argmax")
    if pool != "argmax":
        raise ValueError(f"Only CLIP's EOT (argmax) text pooling is supported, not {pool!r}.")
    if x.dim() != 3 or tokens.dim() != 2 or x.shape[:2] != tokens.shape:
        raise ValueError(
            f"Embeddings [N, L, W] and tokens [N, L] disagree: {tuple(x.shape)} vs {tuple(tokens.shape)}."
        )
    eot = tokens.argmax(dim=-1).to(x.device)
    dtype = cast_dtype or model.transformer.get_cast_dtype()
    attn_mask = model.attn_mask
    length = x.shape[1]
    if truncate and attn_mask is not None:  # exact only under a causal mask
        length = int(eot.max().item()) + 1
    x = x[:, :length].to(dtype) + model.positional_embedding[:length].to(dtype)
    if attn_mask is not None:
        attn_mask = attn_mask[:length, :length]
    x = model.transformer(x, attn_mask=attn_mask)
    x = model.ln_final(x)
    x = x[torch.arange(x.shape[0], device=x.device), eot]
    proj = model.text_projection
    if proj is None:
        return x
    if isinstance(proj, nn.Linear):
        return proj(x)
    return x @ proj


def encode_text_tokens(model: nn.Module, tokens: Tensor, truncate: bool = True) -> Tensor:
    """Unnormalised text features ``[N, D]`` for token ids ``[N, 77]`` (CLIP's ``encode_text``)."""
    tokens = tokens.to(_model_device(model))
    x = model.token_embedding(tokens)
    return _text_tower(model, x, tokens, truncate)


def encode_prompt_embeddings(
    model: nn.Module,
    embeddings: Tensor,
    tokens: Tensor,
    truncate: bool = True,
    cast_dtype: Optional[torch.dtype] = None,
) -> Tensor:
    """Unnormalised text features ``[N, D]`` from token embeddings ``[N, 77, W]`` (CoOp's prompts).

    ``tokens [N, 77]`` are the ids the embeddings stand for; only their arg-max (the EOT position)
    is used. Gradients flow into ``embeddings``.
    """
    return _text_tower(model, embeddings, tokens, truncate, cast_dtype)


def format_classnames(classnames: Iterable[str], lowercase: bool = False) -> list[str]:
    """``_`` -> space, then optionally lower-case (R-AMT's official behaviour)."""
    names = [str(c).replace("_", " ") for c in classnames]
    return [n.lower() for n in names] if lowercase else names


@torch.no_grad()
def build_text_classifier(
    model: nn.Module,
    classnames: Sequence[str],
    templates: Union[str, Sequence[str]],
    device: Device = "cpu",
    lowercase: bool = False,
    normalize_each: bool = True,
    batch_size: int = 256,
) -> Tensor:
    """Zero-shot text classifier ``[C, D]`` (fp32, rows L2-normalised), on ``device``.

    Each class name is formatted into every template. With several templates the features are
    L2-normalised per template, averaged and renormalised (CLIP/CoOp ensembles); with
    ``normalize_each=False`` the raw features are averaged, then normalised (official R-AMT code).
    With one template both give the same result.
    """
    if isinstance(templates, str):
        templates = [templates]
    templates = list(templates)
    names = format_classnames(classnames, lowercase=lowercase)
    if not names:
        raise ValueError("build_text_classifier needs at least one class name.")
    if not templates:
        raise ValueError("build_text_classifier needs at least one template.")
    for t in templates:
        if "{}" not in t:
            raise ValueError(f"Template {t!r} has no '{{}}' placeholder for the class name.")
    from ramt.clip.shared import cached_text, store_text, text_key

    memo = text_key(model, names, templates, normalize_each=normalize_each)
    shared = cached_text(memo)
    if shared is not None:  # worker mode: computed by an earlier job of this process
        return shared.to(device)
    texts = [t.format(n) for n in names for t in templates]  # class-major
    tokens = tokenize(texts)
    feats = torch.cat(
        [
            encode_text_tokens(model, tokens[i : i + batch_size]).float()
            for i in range(0, len(texts), batch_size)
        ]
    )
    feats = feats.view(len(names), len(templates), -1)
    if normalize_each:
        feats = normalize(feats)
    out = normalize(feats.mean(dim=1))
    store_text(memo, out)
    return out.to(device)


def encode_images(model: nn.Module, images: Tensor) -> Tensor:
    """Unnormalised image features ``[N, D]`` (images moved to the encoder's device and dtype)."""
    visual = model.visual
    ref = next(visual.parameters())
    return visual(images.to(device=ref.device, dtype=ref.dtype))
