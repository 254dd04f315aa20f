"""One backbone decision per run: :class:`BackboneSpec`, resolved once from the config.

It holds what every consumer needs (trainer, feature cache, run identity, analyze, export): the
label, the run-folder tag, the weights file actually read and its digest, the image encoder's
head width and the preprocessing. The weights file is searched for once
(:func:`ramt.clip.weights.find_openai_file`) and hashed once per file version (the digest memo
in ``<CACHE_DIR>/digests.json``); :func:`backbone_spec` returns the same object for the same
config and files within a process.
"""

from __future__ import annotations

import functools
import hashlib
import os
from dataclasses import dataclass

import ramt
from ramt.config import resolve_cache_dir
from ramt.utils.io import file_stamp

from .backbones import BACKBONES, DEFAULT_BACKBONE, Preprocess, folder_tag, resolve_preprocess
from .digests import file_sha256
from .weights import CLIP_DIR_ENV, find_openai_file

__all__ = ["BackboneSpec", "backbone_spec", "head_width", "weights_identity"]

DEFAULT_HEAD_WIDTH = 64  # OpenAI CLIP: heads = width // 64


@dataclass(frozen=True)
class BackboneSpec:
    """The run's backbone, decided once (see the module docstring)."""

    name: str  # MODEL.BACKBONE.NAME as given (stripped)
    pretrained: str  # MODEL.BACKBONE.PRETRAINED
    path: str  # MODEL.BACKBONE.PATH (expanded), "" if none
    weights_file: str  # the local file that is read: PATH, or OpenAI's file found; "" (tiny, download)
    digest: str  # the weights' identity: sha256:<hex>, tiny:<hash>, open_clip:<name>:<tag>, openai:<name>
    tag: str  # the run-folder tag
    label: str  # the table name for OpenAI's own weights and tiny, else "<name> (<file or tag>)"
    head_width: int  # attention head width of the image encoder
    preprocess: Preprocess  # the data preprocessing (explicit INPUT.* values win)

    @property
    def is_table_weights(self) -> bool:
        """The weights are the table's own (OpenAI's file by SHA-256, its download, or tiny)."""
        return self.label in BACKBONES


def head_width(name: str) -> int:
    """The image encoder's head width of a table name (from the table) or an open_clip model."""
    name = (name or "").strip() or DEFAULT_BACKBONE
    if name in BACKBONES:
        return BACKBONES[name].head_width
    import open_clip  # local: only non-table names need open_clip's model configs

    cfg = open_clip.get_model_config(name) or {}
    return int(cfg.get("vision_cfg", {}).get("head_width", DEFAULT_HEAD_WIDTH))


@functools.lru_cache(maxsize=1)
def _tiny_fingerprint() -> str:
    """Hash of the ``tiny`` weights, so a change to its definition never reuses stale features."""
    from .backend import build_tiny_clip  # local: building tiny needs open_clip (torch)

    h = hashlib.sha256()
    for key, tensor in build_tiny_clip().state_dict().items():
        h.update(key.encode())
        h.update(tensor.detach().float().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def _input_key(cfg) -> tuple:
    inp = cfg.INPUT
    return (
        tuple(inp.SIZE),
        str(inp.INTERPOLATION),
        tuple(inp.PIXEL_MEAN),
        tuple(inp.PIXEL_STD),
        str(inp.RESIZE_MODE),
    )


def backbone_spec(cfg) -> BackboneSpec:
    """The :class:`BackboneSpec` of ``cfg`` (resolved once per config and file version)."""
    bb = cfg.MODEL.BACKBONE
    name = (bb.NAME or "").strip()
    path = os.path.abspath(os.path.expanduser(bb.PATH.strip())) if (bb.PATH or "").strip() else ""
    pretrained = str(bb.get("PRETRAINED", "") or "").strip()
    where = (os.environ.get(CLIP_DIR_ENV, ""), os.path.expanduser("~"))  # the search folders
    stamp = file_stamp(path) if path else ""
    return _resolve(name, path, pretrained, where, stamp, resolve_cache_dir(cfg), _input_key(cfg), _Cfg(cfg))


class _Cfg:
    """Carries the config into the memoised resolver without making it part of the key."""

    def __init__(self, cfg) -> None:
        self.cfg = cfg

    def __eq__(self, other) -> bool:
        return isinstance(other, _Cfg)

    def __hash__(self) -> int:
        return 0


@functools.lru_cache(maxsize=32)
def _resolve(
    name: str, path: str, pretrained: str, where: tuple, stamp: str, cache: str, inputs: tuple, holder: _Cfg
) -> BackboneSpec:
    found = "" if (path or name not in BACKBONES or pretrained) else (find_openai_file(name) or "")
    weights_file = path or found
    if weights_file:
        digest = f"sha256:{file_sha256(weights_file, cache)}"
    elif name == "tiny":
        digest = f"tiny:{_tiny_fingerprint()}"
    elif pretrained:
        digest = f"open_clip:{name}:{pretrained}"
    else:
        digest = f"openai:{name}"
    sha = digest.split(":", 1)[1] if digest.startswith("sha256:") else ""
    table = BACKBONES.get(name or DEFAULT_BACKBONE)
    own_weights = (
        table is not None and not pretrained and (not path or (table.sha256 and sha == table.sha256))
    )
    if own_weights:
        label = table.name
    else:
        label = f"{name or DEFAULT_BACKBONE} ({os.path.basename(path) if path else pretrained})"
    return BackboneSpec(
        name=name,
        pretrained=pretrained,
        path=path,
        weights_file=weights_file,
        digest=digest,
        tag=folder_tag(name, pretrained, path, sha256=sha),
        label=label,
        head_width=head_width(name) if name else DEFAULT_HEAD_WIDTH,
        preprocess=resolve_preprocess(holder.cfg),
    )


def weights_identity(cfg) -> str:
    """The weights' identity by content (the run identity and the feature cache key use it)."""
    return backbone_spec(cfg).digest


def backbone_identity(cfg) -> str:
    """The weights' identity plus the code version (the feature cache's backbone key)."""
    return f"{weights_identity(cfg)}:code {ramt.__version__}"


def clear_specs() -> None:
    """Forget the resolved specs (tests)."""
    _resolve.cache_clear()
