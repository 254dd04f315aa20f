"""The backbone table: one entry per named backbone, and the rules for every other one.

Each CoOp backbone name (``RN50``, ``RN101``, ``ViT-B/32``, ``ViT-B/16``, ``ViT-L/14``) and the
CPU-sized ``tiny`` owns, in :data:`BACKBONES`: its open_clip model name, OpenAI's file name and
SHA-256, its preprocessing (input size, interpolation, mean/std, resize mode) and its run-folder
tag (``vit_b16``...). Any other ``MODEL.BACKBONE.NAME`` is an open_clip model name used with
``MODEL.BACKBONE.PRETRAINED <tag>`` or a local open_clip checkpoint (``MODEL.BACKBONE.PATH``);
its preprocessing comes from open_clip's pretrained config (or the ``open_clip_config.json``
next to the file). See docs/BACKBONES.md.

This module imports neither torch nor open_clip at import time, so that the runner scripts can
ask it for a folder tag cheaply::

    python -m ramt.clip.backbones tag MODEL.BACKBONE.NAME tiny      # -> tiny
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Optional

__all__ = [
    "BACKBONES",
    "CLIP_PREPROCESS",
    "DEFAULT_BACKBONE",
    "INTERPOLATION_SENTINEL",
    "OPENAI_MEAN",
    "OPENAI_STD",
    "OPEN_CLIP_CONFIG_FILE",
    "RESIZE_MODES",
    "Backbone",
    "BackboneIdentity",
    "Preprocess",
    "backbone_preprocess",
    "folder_tag",
    "is_table_name",
    "resolve_preprocess",
    "tag_from_options",
]

OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)
#: Supported resize modes of the test transform: ``shortest`` (resize the smaller edge, then
#: centre-crop; CoOp's and OpenAI's) and ``squash`` (resize both edges to the input size).
RESIZE_MODES = ("shortest", "squash")
#: The config value meaning "take it from the backbone" (INPUT.INTERPOLATION, INPUT.RESIZE_MODE).
INTERPOLATION_SENTINEL = "backbone"
#: The file open_clip writes next to a model's weights (``model_cfg`` + ``preprocess_cfg``).
OPEN_CLIP_CONFIG_FILE = "open_clip_config.json"
#: The backbone of every shipped config (and the published numbers).
DEFAULT_BACKBONE = "ViT-B/16"


@dataclass(frozen=True)
class Preprocess:
    """How images are prepared for a backbone (the test transform; training crops use ``size``)."""

    size: tuple[int, int]
    interpolation: str
    mean: tuple[float, ...]
    std: tuple[float, ...]
    resize_mode: str = "shortest"
    #: where each value came from, e.g. "ViT-B/16 (backbone table)" or "config"
    source: str = field(default="", compare=False)

    def describe(self) -> str:
        return (
            f"size {self.size[0]}x{self.size[1]}, {self.interpolation} interpolation, resize {self.resize_mode}, "
            f"mean {list(self.mean)}, std {list(self.std)}"
        )


CLIP_PREPROCESS = Preprocess((224, 224), "bicubic", OPENAI_MEAN, OPENAI_STD, "shortest")


@dataclass(frozen=True)
class Backbone:
    """One named backbone of the table."""

    name: str  # CoOp's name (MODEL.BACKBONE.NAME)
    tag: str  # run-folder tag
    open_clip_name: str  # open_clip model name ("" for tiny)
    openai_file: str  # file name in ~/.cache/clip ("" for tiny)
    sha256: str  # SHA-256 of OpenAI's file ("" for tiny)
    #: architecture signature (see ramt.clip.backend.architecture_signature)
    architecture: str
    preprocess: Preprocess = CLIP_PREPROCESS
    head_width: int = 64  # attention head width of the image encoder


def _openai(name: str, tag: str, oc_name: str, sha: str, arch: str) -> Backbone:
    return Backbone(name, tag, oc_name, f"{oc_name}.pt", sha, arch)


#: The named backbones. SHA-256 values are those of OpenAI's release files (their download
#: addresses embed them).
BACKBONES: dict[str, Backbone] = {
    b.name: b
    for b in (
        _openai(
            "RN50",
            "rn50",
            "RN50",
            "afeb0e10f9e5a86da6080e35cf09123aca3b358a0c3e3b6c78a7b63bc04b6762",
            "rn w64 L3-4-6-3 224px | text w512 L12 | embed 1024",
        ),
        _openai(
            "RN101",
            "rn101",
            "RN101",
            "8fa8567bab74a42d41c5915025a8e4538c3bdbe8804a470a72f30b0d94fab599",
            "rn w64 L3-4-23-3 224px | text w512 L12 | embed 512",
        ),
        _openai(
            "ViT-B/32",
            "vit_b32",
            "ViT-B-32",
            "40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af",
            "vit w768 L12 p32 224px | text w512 L12 | embed 512",
        ),
        _openai(
            "ViT-B/16",
            "vit_b16",
            "ViT-B-16",
            "5806e77cd80f8b59890b7e101eabd078d9fb84e6937f9e85e4ecb61988df416f",
            "vit w768 L12 p16 224px | text w512 L12 | embed 512",
        ),
        _openai(
            "ViT-L/14",
            "vit_l14",
            "ViT-L-14",
            "b8cca3fd41ae0c99ba7e8951adf17d267cdb84cd88be6f7c2e0eca1737a03836",
            "vit w1024 L24 p14 224px | text w768 L12 | embed 768",
        ),
        Backbone("tiny", "tiny", "", "", "", "tiny"),
    )
}


def is_table_name(name: str) -> bool:
    return (name or "").strip() in BACKBONES


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def open_clip_name_tag(name: str) -> str:
    """``ViT-B-16`` -> ``vit_b16``, ``ViT-B-16-quickgelu`` -> ``vit_b16_quickgelu``, ``RN50`` -> ``rn50``."""
    name = re.sub(r"^(?i:vit)-([A-Za-z]+)-(\d+)", lambda m: f"vit_{m.group(1)}{m.group(2)}", name.strip())
    return _slug(name)


def folder_tag(name: str = "", pretrained: str = "", path: str = "", sha256: str = "") -> str:
    """The run-folder tag of a backbone: the table's tag for CoOp names and ``tiny`` with their own
    weights; for an open_clip model, its name plus the pretraining tag (or the local file's stem).

    The tag follows the weights' identity: a ``path`` under a table name keeps the table's tag only
    when the file is the table's own (its SHA-256, ``sha256`` or computed); a foreign file gets
    ``<tag>_<file stem>``, so it never lands in the ``vit_b16`` folders of OpenAI's weights.
    """
    name = (name or "").strip() or DEFAULT_BACKBONE
    if name in BACKBONES and not pretrained and path:
        own = BACKBONES[name].sha256
        digest = sha256 or _file_digest(path)
        if not digest or digest == own:  # OpenAI's own file (or none to read yet: loading will say so)
            return BACKBONES[name].tag
    elif name in BACKBONES and not pretrained:
        return BACKBONES[name].tag
    base = BACKBONES[name].tag if name in BACKBONES else open_clip_name_tag(name)
    if pretrained:
        return f"{base}_{_slug(pretrained)}"
    if path:
        stem = os.path.splitext(os.path.basename(path.rstrip("/")))[0]
        return f"{base}_{_slug(stem)}" if _slug(stem) else base
    return base


def _file_digest(path: str) -> str:
    """SHA-256 of a weights file ("" if it cannot be read), remembered by size and times."""
    from .digests import file_sha256  # local: keeps this module's import free of the digest memo's I/O

    try:
        return file_sha256(path, os.environ.get("RAMT_CACHE_DIR") or os.path.expanduser("~/.cache/ramt"))
    except OSError:
        return ""


def _options(opts: Sequence[str]) -> dict[str, str]:
    out = {}
    for key, value in zip(opts[0::2], opts[1::2]):
        out[key] = value.strip().strip("'\"")
    return out


def tag_from_options(opts: Sequence[str]) -> str:
    """The folder tag for trailing ``KEY VALUE`` options (``MODEL.BACKBONE.NAME/PRETRAINED/PATH``);
    without a name, the shipped configs' ViT-B/16."""
    o = _options(list(opts))
    return folder_tag(
        o.get("MODEL.BACKBONE.NAME", ""),
        o.get("MODEL.BACKBONE.PRETRAINED", ""),
        o.get("MODEL.BACKBONE.PATH", ""),
    )


# ---------------------------------------------------------------------------- identity


@dataclass(frozen=True)
class BackboneIdentity:
    """What the loaded weights are, decided from the weights (recorded in ``results.json``).

    ``label`` is a table name (``ViT-B/16``) only for OpenAI's own file (SHA-256 match, or
    open_clip's verified download) and for ``tiny``; any other weights get
    ``"<architecture> (<pretraining tag or file name>)"``, which the report never compares with
    the published numbers.
    """

    label: str
    architecture: str  # a table name when the architecture matches one, else the signature
    source: str  # "openai", "tiny", "open_clip", "file"
    activation: str = "QuickGELU"
    pretrained: str = ""
    path: str = ""
    sha256: str = ""
    requested: str = ""  # MODEL.BACKBONE.NAME as given

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# ---------------------------------------------------------------------------- preprocessing


def _is_sentinel_size(size) -> bool:
    return all(int(s) <= 0 for s in size)


def _local_open_clip_config(path: str) -> Optional[dict]:
    """``open_clip_config.json`` beside a local checkpoint, when there is one."""
    if not path:
        return None
    candidate = os.path.join(
        os.path.dirname(os.path.abspath(os.path.expanduser(path))), OPEN_CLIP_CONFIG_FILE
    )
    if not os.path.isfile(candidate):
        return None
    with open(candidate, encoding="utf-8") as f:
        data = json.load(f)
    if not isinstance(data, dict) or "model_cfg" not in data:
        raise ValueError(
            f"{candidate} is not an open_clip config (no 'model_cfg'); it sits next to MODEL.BACKBONE.PATH "
            "and would describe that checkpoint. Fix or move it."
        )
    return data


def _from_open_clip_cfg(base: Preprocess, cfg: dict, size: Optional[int], source: str) -> Preprocess:
    mean = tuple(float(v) for v in cfg.get("mean", base.mean))
    std = tuple(float(v) for v in cfg.get("std", base.std))
    s = cfg.get("size", size)
    if isinstance(s, (list, tuple)):
        hw = (int(s[0]), int(s[1]))
    elif s:
        hw = (int(s), int(s))
    else:
        hw = base.size
    return Preprocess(
        hw,
        str(cfg.get("interpolation", base.interpolation)),
        mean,
        std,
        str(cfg.get("resize_mode", base.resize_mode)),
        source,
    )


def _image_size_of(model_cfg: Optional[dict]) -> Optional[int]:
    if not model_cfg:
        return None
    s = model_cfg.get("vision_cfg", {}).get("image_size")
    if isinstance(s, (list, tuple)):
        return int(s[0])
    return int(s) if s else None


def backbone_preprocess(cfg, model=None) -> Preprocess:
    """The backbone's own preprocessing, before any explicit ``INPUT.*`` value.

    With ``model``, its input size (and open_clip's ``preprocess_cfg`` when it has one) decide;
    without it, the table, open_clip's pretrained config, or ``open_clip_config.json`` next to
    ``MODEL.BACKBONE.PATH`` (no weights are read).
    """
    bb = cfg.MODEL.BACKBONE
    name = (bb.NAME or "").strip()
    pretrained = str(bb.PRETRAINED or "").strip()
    path = (bb.PATH or "").strip()
    base = BACKBONES[name].preprocess if name in BACKBONES else CLIP_PREPROCESS
    where = f"{name or DEFAULT_BACKBONE} (backbone table)"
    if model is not None:
        pcfg = getattr(getattr(model, "visual", None), "preprocess_cfg", None)
        size = getattr(getattr(model, "visual", None), "image_size", None)
        if isinstance(size, (list, tuple)):
            size = size[0]
        if pcfg:
            return _from_open_clip_cfg(base, dict(pcfg), size, f"{name} (open_clip preprocess config)")
        if size:
            return replace(base, size=(int(size), int(size)), source=where)
        return replace(base, source=where)
    local = _local_open_clip_config(path)
    if local is not None:
        return _from_open_clip_cfg(
            base,
            local.get("preprocess_cfg", {}),
            _image_size_of(local.get("model_cfg")),
            f"{os.path.join(os.path.dirname(path), OPEN_CLIP_CONFIG_FILE)}",
        )
    if name in BACKBONES and not pretrained:
        return replace(base, source=where)
    if name:
        import open_clip

        model_cfg = open_clip.get_model_config(name)
        pcfg = open_clip.get_pretrained_cfg(name, pretrained) if pretrained else {}
        src = f"open_clip {name}" + (f" ({pretrained})" if pretrained else "")
        return _from_open_clip_cfg(base, dict(pcfg or {}), _image_size_of(model_cfg), src)
    return replace(base, source=where)


def resolve_preprocess(cfg, model=None) -> Preprocess:
    """The preprocessing a run uses: explicit ``INPUT.*`` values win, the backbone gives the rest.

    The config is not modified. Sentinels: ``INPUT.SIZE (-1, -1)``, ``INPUT.INTERPOLATION`` /
    ``INPUT.RESIZE_MODE "backbone"``, ``INPUT.PIXEL_MEAN`` / ``INPUT.PIXEL_STD []``.
    """
    inp = cfg.INPUT
    explicit = {
        "size": not _is_sentinel_size(inp.SIZE),
        "interpolation": str(inp.INTERPOLATION).lower() != INTERPOLATION_SENTINEL,
        "mean": len(inp.PIXEL_MEAN) > 0,
        "std": len(inp.PIXEL_STD) > 0,
        "resize_mode": str(inp.RESIZE_MODE).lower() != INTERPOLATION_SENTINEL,
    }
    if all(explicit.values()):
        base = CLIP_PREPROCESS
    else:
        base = backbone_preprocess(cfg, model)
    size = tuple(int(s) for s in inp.SIZE) if explicit["size"] else base.size
    if len(size) != 2:
        raise ValueError(f"INPUT.SIZE must have two values (height, width), got {inp.SIZE!r}")
    out = Preprocess(
        size=size,  # type: ignore[arg-type]
        interpolation=str(inp.INTERPOLATION).lower() if explicit["interpolation"] else base.interpolation,
        mean=tuple(float(v) for v in inp.PIXEL_MEAN) if explicit["mean"] else tuple(base.mean),
        std=tuple(float(v) for v in inp.PIXEL_STD) if explicit["std"] else tuple(base.std),
        resize_mode=str(inp.RESIZE_MODE).lower() if explicit["resize_mode"] else base.resize_mode,
    )
    from_cfg = [k for k, v in explicit.items() if v]
    from_bb = [k for k, v in explicit.items() if not v]
    parts = []
    if from_bb:
        parts.append(f"{', '.join(from_bb)} from {base.source}")
    if from_cfg:
        parts.append(f"{', '.join(from_cfg)} from the config")
    return replace(out, source="; ".join(parts))


# ---------------------------------------------------------------------------- CLI


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    usage = (
        "usage: python -m ramt.clip.backbones tag [KEY VALUE ...]   (the run-folder tag)\n"
        "       python -m ramt.clip.backbones list                  (the backbone table)"
    )
    if not args or args[0] in ("-h", "--help"):
        print(usage)
        return 0 if args else 2
    cmd, rest = args[0], args[1:]
    if cmd == "tag":
        print(tag_from_options(rest))
        return 0
    if cmd == "list":
        for b in BACKBONES.values():
            print(
                f"{b.name}\t{b.tag}\t{b.open_clip_name or '-'}\t{b.openai_file or '-'}\t{b.preprocess.describe()}"
            )
        return 0
    print(f"unknown command {cmd!r}\n{usage}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
