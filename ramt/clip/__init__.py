"""CLIP backend (open_clip), the backbone table, prompt templates, and text/image feature helpers.

Names are imported lazily (PEP 562), so that ``python -m ramt.clip.backbones`` and other light
users do not pay for importing torch and open_clip.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, str] = {
    # backend
    "CLIP_DIR_ENV": "weights",
    "CLIP_NAMES": "backend",
    "OFFLINE_ENV": "backend",
    "OPENAI_FILES": "weights",
    "TINY_CONFIG": "backend",
    "VIT_B16_SHA256": "backend",
    "ClipWeightsNotFound": "weights",
    "LoadedBackbone": "backend",
    "UnsafeCheckpointError": "weights",
    "UnsupportedBackboneError": "backend",
    "build_tiny_clip": "backend",
    "clip_input_size": "backend",
    "clip_search_dirs": "weights",
    "find_openai_file": "weights",
    "get_tokenizer": "backend",
    "is_vit": "backend",
    "load_backbone": "backend",
    "load_clip": "backend",
    "load_openai_state_dict": "weights",
    "maybe_half": "backend",
    "model_from_openai_state_dict": "backend",
    "save_openai_checkpoint": "openai_export",
    "BackboneSpec": "spec",
    "backbone_spec": "spec",
    # backbone table
    "BACKBONES": "backbones",
    "BackboneIdentity": "backbones",
    "Preprocess": "backbones",
    "folder_tag": "backbones",
    "resolve_preprocess": "backbones",
    # templates
    "IMAGENET_TEMPLATES": "templates",
    "TEMPLATES": "templates",
    "UnknownTemplateError": "templates",
    "ensemble_templates": "templates",
    "get_template": "templates",
    # text
    "build_text_classifier": "text",
    "encode_images": "text",
    "encode_prompt_embeddings": "text",
    "encode_text_tokens": "text",
    "format_classnames": "text",
    "normalize": "text",
    "tokenize": "text",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
