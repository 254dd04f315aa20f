"""Process-wide sharing of loaded CLIP models and text classifiers (worker mode, ``ramt.worker``).

Off by default: a standalone run loads CLIP once anyway. When a worker runs several jobs in
one process it calls :func:`enable_sharing`; then every job gets its own deep copy of one
pristine loaded model (trainers modify theirs: masks folded in, the text tower dropped), and
zero-shot text classifiers are computed once per (model, class names, templates, options).
Neither loading nor text encoding draws random numbers, so a job's results do not depend on
whether they were shared.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Sequence
from typing import Optional

import torch

_SHARED_ATTR = "_ramt_shared_key"
_enabled = False
_models: dict[tuple, object] = {}  # key -> LoadedBackbone
_text: dict[tuple, torch.Tensor] = {}


def enable_sharing(on: bool = True) -> None:
    global _enabled
    _enabled = bool(on)
    if not on:
        _models.clear()
        _text.clear()


def sharing_enabled() -> bool:
    return _enabled


def _model_key(name: str, path: str, pretrained: str) -> tuple:
    if path:
        path = os.path.expanduser(path)
        st = os.stat(path)
        return ("file", os.path.abspath(path), st.st_size, st.st_mtime_ns, name, pretrained)
    return ("name", name, pretrained)


def load_backbone_shared(
    name: str,
    path: str = "",
    device="cpu",
    pretrained: str = "",
    allow_pickle: bool = False,
    openai_file: Optional[str] = None,
):
    """``load_backbone``, or (sharing on) a deep copy of the model this process loaded first, with
    the same identity."""
    from ramt.clip.backend import LoadedBackbone, load_backbone

    if not _enabled:
        return load_backbone(
            name,
            path,
            device=device,
            pretrained=pretrained,
            allow_pickle=allow_pickle,
            openai_file=openai_file,
        )
    key = _model_key((name or "").strip(), (path or "").strip(), (pretrained or "").strip())
    if key not in _models:
        _models[key] = load_backbone(
            name,
            path,
            device="cpu",
            pretrained=pretrained,
            allow_pickle=allow_pickle,
            openai_file=openai_file,
        )
    first = _models[key]
    model = copy.deepcopy(first.model)
    setattr(model, _SHARED_ATTR, key)
    return LoadedBackbone(model=model.to(device), identity=first.identity)


def load_clip_shared(name: str, path: str = "", device="cpu") -> torch.nn.Module:
    """The model of :func:`load_backbone_shared` (CoOp's names, ``tiny``, OpenAI-format files)."""
    return load_backbone_shared(name, path, device=device).model


def text_key(
    model: torch.nn.Module, classnames: Sequence[str], templates: Sequence[str], **options
) -> Optional[tuple]:
    """The memo key of a text classifier, or None when sharing is off or the model is not shared."""
    key = getattr(model, _SHARED_ATTR, None)
    if not _enabled or key is None:
        return None
    # The text tower's dtype and device are part of the key: a job that halves its copy (CoOp
    # fp16) or encodes on the GPU gets the features it would compute itself.
    params = list(model.transformer.parameters()) + [model.token_embedding.weight]
    where = tuple(sorted({f"{p.dtype}@{p.device}" for p in params}))
    return (key, where, tuple(classnames), tuple(templates), tuple(sorted(options.items())))


def cached_text(key: Optional[tuple]) -> Optional[torch.Tensor]:
    return None if key is None or key not in _text else _text[key].clone()


def store_text(key: Optional[tuple], features: torch.Tensor) -> None:
    if key is not None:
        _text[key] = features.detach().cpu().clone()
