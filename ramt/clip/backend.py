"""Loading CLIP through open_clip: CoOp's backbone names, OpenAI-format files, and ``tiny``.

:func:`load_clip` always returns an fp32 model in eval mode with every parameter frozen.
Half precision is a trainer's choice on CUDA only (see :func:`maybe_half`); never on CPU.

Where the OpenAI weights of a CoOp name are looked for, in order:

1. ``path`` (``MODEL.BACKBONE.PATH``): a TorchScript archive as OpenAI ships it
   (``~/.cache/clip/ViT-B-16.pt``) or a plain state dict (optionally under ``"state_dict"``);
2. ``$RAMT_CLIP_DIR/<file>`` and ``~/.cache/clip/<file>`` (``<file>`` as in :data:`OPENAI_FILES`);
3. open_clip's own download (``pretrained="openai"``), skipped when ``RAMT_OFFLINE=1`` or when
   no network answers within a few seconds.

Otherwise :class:`ClipWeightsNotFound` (a ``FileNotFoundError``) says which file to put where.
Any other name is an open_clip model (``pretrained`` tag from the local Hugging Face / open_clip
cache, or a local open_clip-format ``path``). :func:`load_backbone` also returns the identity of
the weights (:class:`~ramt.clip.backbones.BackboneIdentity`), decided from the weights themselves.

Checkpoints are never unpickled: TorchScript archives are read with ``torch.jit.load`` (no Python
pickle code runs), other files with ``torch.load(weights_only=True)`` or safetensors. A file that
holds Python objects is refused unless ``allow_pickle`` (``MODEL.BACKBONE.ALLOW_PICKLE True``).
See docs/BACKBONES.md.
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import logging
import math
import os
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Optional, Union

import open_clip
import torch
from open_clip.model import CLIP, CLIPTextCfg, CLIPVisionCfg, convert_weights_to_lp
from torch import nn

from ramt.clip.backbones import (
    BACKBONES,
    OPEN_CLIP_CONFIG_FILE,
    BackboneIdentity,
    is_table_name,
)
from ramt.masks.selection import UnsupportedBackboneError
from ramt.utils.io import sha256_file as file_sha256

from .openai_export import save_openai_checkpoint
from .weights import (
    _OPENAI_EXTRA_KEYS,
    CLIP_DIR_ENV,
    OPENAI_FILES,
    ClipWeightsNotFound,
    UnsafeCheckpointError,
    _is_torchscript_archive,
    _normalize_state_dict,
    _read_checkpoint,
    clip_search_dirs,
    find_openai_file,
    load_openai_state_dict,
)

__all__ = [
    "CLIP_DIR_ENV",
    "CLIP_NAMES",
    "OFFLINE_ENV",
    "ClipWeightsNotFound",
    "LoadedBackbone",
    "OPENAI_FILES",
    "UnsafeCheckpointError",
    "UnsupportedBackboneError",
    "TINY_CONFIG",
    "VIT_B16_SHA256",
    "build_tiny_clip",
    "clip_input_size",
    "clip_search_dirs",
    "get_tokenizer",
    "is_vit",
    "load_backbone",
    "load_clip",
    "load_openai_state_dict",
    "maybe_half",
    "model_from_openai_state_dict",
    "save_openai_checkpoint",
]

logger = logging.getLogger(__name__)

Device = Union[str, torch.device]


#: CoOp's backbone name -> open_clip model name (views of the backbone table).
CLIP_NAMES: dict[str, str] = {b.name: b.open_clip_name for b in BACKBONES.values() if b.open_clip_name}
#: SHA-256 of OpenAI's ViT-B/16 file.
VIT_B16_SHA256 = BACKBONES["ViT-B/16"].sha256

TINY_NAME = "tiny"
TINY_SEED = 0
#: The ``tiny`` CLIP: OpenAI ViT layout with 64-wide attention heads (as OpenAI files imply,
#: so that a saved ``tiny`` re-loads with the same architecture).
TINY_CONFIG: dict[str, Any] = {
    "embed_dim": 256,
    "vision": {"image_size": 224, "patch_size": 32, "width": 128, "layers": 2, "head_width": 64},
    "text": {"context_length": 77, "vocab_size": 49408, "width": 128, "heads": 2, "layers": 2},
}

#: Env var: any of 1/true/yes disables every download attempt.
OFFLINE_ENV = "RAMT_OFFLINE"
_HEAD_WIDTH = 64  # OpenAI CLIP: heads = width // 64, for both towers


@dataclass
class LoadedBackbone:
    """A loaded CLIP and the identity of its weights."""

    model: CLIP
    identity: BackboneIdentity


# ---------------------------------------------------------------------------- small helpers


def _accepted_names() -> list[str]:
    return [*CLIP_NAMES, TINY_NAME]


def _unknown_name_error(name: str) -> ValueError:
    accepted = _accepted_names()
    candidates = {n: n for n in accepted}
    candidates.update({n: n for n in open_clip.list_models()})
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.5)
    hint = f" Did you mean {candidates[close[0]]!r}?" if close else ""
    return ValueError(
        f"Unknown CLIP backbone {name!r}.{hint} Accepted names: {', '.join(accepted)} (OpenAI's weights), "
        'or any open_clip model name (`python -c "import open_clip; print(open_clip.list_models())"`) with '
        "MODEL.BACKBONE.PRETRAINED <tag> or MODEL.BACKBONE.PATH <open_clip checkpoint>."
    )


def _truthy_env(var: str) -> bool:
    return os.environ.get(var, "").strip().lower() in ("1", "true", "yes", "on")


def _offline() -> bool:
    return _truthy_env(OFFLINE_ENV) or _truthy_env("HF_HUB_OFFLINE")


def _network_reachable(timeout: float = 3.0) -> bool:
    hosts = [("huggingface.co", 443), ("openaipublic.azureedge.net", 443)]
    for host, port in hosts:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                return True
        except OSError:
            continue
    return False


def _not_found_message(name: str, reason: str) -> str:
    fname = OPENAI_FILES[name]
    where = os.path.join("~", ".cache", "clip", fname)
    sha = BACKBONES[name].sha256
    sha_txt = f" Its SHA-256 is {sha} (check with `sha256sum {fname}`)." if sha else ""
    return (
        f"CLIP weights for {name!r} were not found ({reason}). Put OpenAI's file {fname} at {where} "
        f"(the file OpenAI's `clip.load({name!r})` downloads), or in ${CLIP_DIR_ENV}/{fname}, or pass its "
        f"location explicitly with `MODEL.BACKBONE.PATH /path/to/{fname}`.{sha_txt} A plain state dict in "
        f"OpenAI's key format is accepted too."
    )


# ---------------------------------------------------------------------------- state dicts


def _count_blocks(sd: Mapping[str, Any], prefix: str) -> int:
    pat = re.compile(re.escape(prefix) + r"(\d+)\.")
    return len({m.group(1) for k in sd for m in [pat.match(k)] if m})


def _infer_configs(sd: Mapping[str, torch.Tensor]) -> tuple[int, CLIPVisionCfg, CLIPTextCfg]:
    """Infer open_clip configs from OpenAI-format weights (heads = width // 64, as OpenAI)."""
    if "visual.proj" in sd:  # ViT
        width = sd["visual.conv1.weight"].shape[0]
        patch = sd["visual.conv1.weight"].shape[-1]
        grid = round(math.sqrt(sd["visual.positional_embedding"].shape[0] - 1))
        layers = _count_blocks(sd, "visual.transformer.resblocks.")
        mlp = sd["visual.transformer.resblocks.0.mlp.c_fc.weight"].shape[0] / width
        vision = CLIPVisionCfg(
            layers=layers,
            width=width,
            head_width=_HEAD_WIDTH,
            mlp_ratio=mlp,
            patch_size=patch,
            image_size=patch * grid,
        )
    else:  # ModifiedResNet
        layers = tuple(_count_blocks(sd, f"visual.layer{b}.") for b in (1, 2, 3, 4))
        width = sd["visual.layer1.0.conv1.weight"].shape[0]
        out_w = round(math.sqrt(sd["visual.attnpool.positional_embedding"].shape[0] - 1))
        vision = CLIPVisionCfg(layers=layers, width=width, head_width=_HEAD_WIDTH, image_size=out_w * 32)
    t_width = sd["ln_final.weight"].shape[0]
    text = CLIPTextCfg(
        context_length=sd["positional_embedding"].shape[0],
        vocab_size=sd["token_embedding.weight"].shape[0],
        width=t_width,
        heads=max(1, t_width // _HEAD_WIDTH),
        layers=_count_blocks(sd, "transformer.resblocks."),
        mlp_ratio=sd["transformer.resblocks.0.mlp.c_fc.weight"].shape[0] / t_width,
    )
    embed_dim = sd["text_projection"].shape[1]
    return embed_dim, vision, text


@contextlib.contextmanager
def _private_rng(seed: int | None = None):
    """Run a block without touching the caller's (CPU) RNG state."""
    with torch.random.fork_rng(devices=[]):
        if seed is not None:
            torch.manual_seed(seed)
        yield


def model_from_openai_state_dict(state_dict: Mapping[str, torch.Tensor]) -> CLIP:
    """Build an fp32 open_clip ``CLIP`` (QuickGELU) whose architecture is inferred from the weights."""
    sd = _normalize_state_dict(state_dict)
    embed_dim, vision, text = _infer_configs(sd)
    with _private_rng():
        model = CLIP(embed_dim, vision_cfg=vision, text_cfg=text, quick_gelu=True)
    missing, unexpected = model.load_state_dict(sd, strict=False)
    if missing or unexpected:
        raise ValueError(
            "The checkpoint does not match the inferred CLIP architecture: "
            f"missing keys {sorted(missing)[:8]}, unexpected keys {sorted(unexpected)[:8]}."
        )
    return model


def build_tiny_clip() -> CLIP:
    """The ``tiny`` CLIP: OpenAI ViT layout, fixed-seed random weights, QuickGELU.

    The same weights on every call, whatever the global RNG state (which is left untouched).
    It is an *untrained* CLIP, so ``exp(logit_scale)`` is CLIP's initial value 1/0.07 (not the
    100 of the trained OpenAI models), and the random init is conditioned (see
    :data:`TINY_INIT`) so that different images give different features; otherwise a random
    pre-LayerNorm transformer maps every input to nearly the same feature and there is nothing
    for masks to select. It exists for CPU pipeline checks, not for numbers.
    """
    cfg = TINY_CONFIG
    vision = CLIPVisionCfg(**cfg["vision"])
    text = CLIPTextCfg(**cfg["text"])
    with _private_rng(TINY_SEED):
        model = CLIP(
            cfg["embed_dim"],
            vision_cfg=vision,
            text_cfg=text,
            quick_gelu=True,
            init_logit_scale=math.log(1 / 0.07),
        )
        _condition_tiny(model)
    return model


#: Conditioning of ``tiny``'s random image encoder (all deterministic, applied after init):
#: ``zero_mean_patch_filters`` removes each patch filter's DC response, so that the nearly
#: uniform patches of small up-scaled images do not dominate the tokens; ``qk_gain`` sharpens
#: the random attention (queries and keys) so that it is position-selective instead of
#: averaging all tokens; ``residual_gain`` scales the attention and MLP output projections so
#: that the residual branches, not the shared embeddings, carry the image content.
TINY_INIT: dict[str, Any] = {"zero_mean_patch_filters": True, "qk_gain": 3.0, "residual_gain": 10.0}


@torch.no_grad()
def _condition_tiny(model: CLIP) -> None:
    visual = model.visual
    if TINY_INIT["zero_mean_patch_filters"]:
        w = visual.conv1.weight
        w.sub_(w.mean(dim=(2, 3), keepdim=True))
    for block in visual.transformer.resblocks:
        width = block.attn.out_proj.weight.shape[0]
        block.attn.in_proj_weight[: 2 * width].mul_(TINY_INIT["qk_gain"])
        block.attn.out_proj.weight.mul_(TINY_INIT["residual_gain"])
        block.mlp.c_proj.weight.mul_(TINY_INIT["residual_gain"])


def _finalize(model: nn.Module, device: Device) -> CLIP:
    model = model.float().to(device).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


# ---------------------------------------------------------------------------- public API


def architecture_signature(sd: Mapping[str, torch.Tensor]) -> str:
    """A short description of the architecture implied by CLIP weights (OpenAI/open_clip keys),
    e.g. ``"vit w768 L12 p16 224px | text w512 L12 | embed 512"`` (the table's format)."""
    embed_dim, vision, text = _infer_configs(sd)
    if isinstance(vision.layers, (tuple, list)):
        v = f"rn w{vision.width} L{'-'.join(str(n) for n in vision.layers)} {vision.image_size}px"
    else:
        v = f"vit w{vision.width} L{vision.layers} p{vision.patch_size} {vision.image_size}px"
    return f"{v} | text w{text.width} L{text.layers} | embed {embed_dim}"


def architecture_name(signature: str) -> str:
    """The table name whose architecture matches ``signature`` (e.g. ``ViT-B/16``), else the signature."""
    for b in BACKBONES.values():
        if b.architecture == signature:
            return b.name
    return signature


def _activation(model: nn.Module) -> str:
    for m in model.visual.modules():
        if isinstance(m, open_clip.transformer.QuickGELU):
            return "QuickGELU"
        if isinstance(m, nn.GELU):
            return "GELU"
    return "unknown"


def _openai_identity(
    sd: Mapping[str, torch.Tensor], requested: str, path: str, source: str
) -> BackboneIdentity:
    """Identity of OpenAI-format weights: a table name only when the file's SHA-256 is OpenAI's."""
    arch = architecture_name(architecture_signature(sd))
    sha = file_sha256(path) if path else ""
    by_sha = next((b for b in BACKBONES.values() if b.sha256 and b.sha256 == sha), None)
    label = by_sha.name if by_sha is not None else f"{arch} ({os.path.basename(path)})"
    if requested and requested != label and is_table_name(requested):
        print(
            f"Warning: MODEL.BACKBONE.NAME is {requested!r} but the weights in {path} are {label!r} "
            "(decided from the weights and their SHA-256); results are recorded under that name."
        )
    return BackboneIdentity(
        label=label,
        architecture=arch,
        source=source,
        activation="QuickGELU",
        path=os.path.abspath(path) if path else "",
        sha256=sha,
        requested=requested,
    )


# ---------------------------------------------------------------------------- open_clip models

#: Keys that only open_clip-format checkpoints have (OpenAI's CLIP layout cannot hold them).
_OPEN_CLIP_ONLY_PREFIXES = ("text.", "visual.trunk.", "visual.attn_pool.", "logit_bias", "visual.head.")


def _unwrap(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        for key in ("state_dict", "model"):
            if key in obj and isinstance(obj[key], Mapping) and "visual.proj" not in obj:
                return obj[key]
    return obj


def _is_open_clip_format(raw: Any, path: str, name: str) -> bool:
    """Whether a local checkpoint is in open_clip's format (decided by its keys, then its context).

    OpenAI's files are TorchScript archives or state dicts with ``input_resolution`` /
    ``context_length`` / ``vocab_size`` entries; ``.safetensors`` files, keys OpenAI's layout
    cannot hold, an ``open_clip_config.json`` beside the file, or an open_clip model name mean
    open_clip's format. A plain state dict under a CoOp name is read as OpenAI's format.
    """
    if _is_torchscript_archive(path):
        return False
    sd = _unwrap(raw)
    if not isinstance(sd, Mapping):
        return False
    keys = [k[len("module.") :] if k.startswith("module.") else k for k in sd]
    if any(k in _OPENAI_EXTRA_KEYS for k in keys):
        return False
    if path.endswith(".safetensors") or any(k.startswith(_OPEN_CLIP_ONLY_PREFIXES) for k in keys):
        return True
    if os.path.isfile(os.path.join(os.path.dirname(os.path.abspath(path)), OPEN_CLIP_CONFIG_FILE)):
        return True
    return bool(name) and not is_table_name(name)


def _supported_message() -> str:
    return (
        "Supported backbones: the CoOp names (RN50, RN101, ViT-B/32, ViT-B/16, ViT-L/14 with OpenAI's weights) "
        "and tiny, and open_clip models built as open_clip.model.CLIP (OpenAI-style text tower), e.g. ViT-B-16, "
        "ViT-B-16-quickgelu, ViT-L-14, ViT-H-14. Mask tuning (R-AMT) needs an open_clip VisionTransformer image "
        "tower (every ViT-* model above); timm towers (SigLIP, EVA, ConvNeXt), Hugging Face text towers, CoCa "
        "and ResNet towers are not supported for masks."
    )


def _check_supported(model: nn.Module, name: str) -> None:
    if type(model) is not CLIP:
        raise UnsupportedBackboneError(
            f"open_clip model {name!r} is a {type(model).__name__}, not an open_clip.model.CLIP with its own "
            f"text transformer, which this suite's text encoders need. {_supported_message()}"
        )


def _quiet_open_clip():
    """open_clip logs warnings on the root logger (e.g. 'no pretrained weights loaded') that do not
    apply when this module loads the weights itself."""

    @contextlib.contextmanager
    def ctx():
        previous = logging.root.manager.disable
        logging.disable(logging.WARNING)
        try:
            yield
        finally:
            logging.disable(previous)

    return ctx()


def _build_open_clip(
    name: str, path: str = "", quick_gelu: bool = False, preprocess: Optional[dict] = None
) -> CLIP:
    """An open_clip model without weights: from ``open_clip_config.json`` beside ``path`` when
    there is one, else from open_clip's registered config ``name``."""
    local = os.path.join(os.path.dirname(os.path.abspath(path)), OPEN_CLIP_CONFIG_FILE) if path else ""
    kwargs: dict[str, Any] = {"load_weights": False, "force_preprocess_cfg": preprocess or None}
    if quick_gelu:
        kwargs["force_quick_gelu"] = True
    with _private_rng(0), _quiet_open_clip():
        if local and os.path.isfile(local):
            model = open_clip.create_model("local-dir:" + os.path.dirname(local), **kwargs)
        elif open_clip.get_model_config(name) is not None:
            model = open_clip.create_model(name, **kwargs)
        else:
            raise _unknown_name_error(name)
    _check_supported(model, name)
    return model


def _load_open_clip_weights(model: CLIP, raw: Any, source: str) -> None:
    sd = _unwrap(raw)
    if isinstance(sd, nn.Module):
        sd = sd.state_dict()
    if not isinstance(sd, Mapping):
        raise ValueError(f"{source}: expected a state dict, got {type(sd).__name__}.")
    sd = {(k[len("module.") :] if k.startswith("module.") else k): v for k, v in sd.items()}
    sd = {k: v.float() if v.is_floating_point() else v for k, v in sd.items() if isinstance(v, torch.Tensor)}
    missing, unexpected = model.load_state_dict(sd, strict=False)
    if missing or unexpected:
        raise ValueError(
            f"{source} does not match the open_clip model it was built as: missing keys {sorted(missing)[:8]}, "
            f"unexpected keys {sorted(unexpected)[:8]}. Pass the checkpoint's own open_clip model name as "
            f"MODEL.BACKBONE.NAME, or put its {OPEN_CLIP_CONFIG_FILE} (model_cfg + preprocess_cfg) beside it."
        )


def _open_clip_identity(model: CLIP, name: str, pretrained: str, path: str) -> BackboneIdentity:
    arch = architecture_name(architecture_signature(model.state_dict()))
    what = pretrained or os.path.basename(path)
    return BackboneIdentity(
        label=f"{name} ({what})",
        architecture=arch,
        source="open_clip",
        activation=_activation(model),
        pretrained=pretrained,
        path=os.path.abspath(path) if path else "",
        sha256=file_sha256(path) if path else "",
        requested=name,
    )


def _safe_alternatives(filename: str) -> list[str]:
    from open_clip.constants import HF_SAFE_WEIGHTS_NAME, HF_WEIGHTS_NAME

    if filename == HF_WEIGHTS_NAME:
        return [HF_SAFE_WEIGHTS_NAME, filename]
    stem, ext = os.path.splitext(filename)
    return [stem + ".safetensors", filename] if ext in (".bin", ".pth", ".pt") else [filename]


def _hub_location(pcfg: Mapping[str, Any]) -> tuple[str, list[str]]:
    from open_clip.constants import HF_WEIGHTS_NAME

    model_id, filename = os.path.split(pcfg["hf_hub"])
    return model_id.rstrip("/"), _safe_alternatives(filename or HF_WEIGHTS_NAME)


def _cached_pretrained_file(pcfg: Mapping[str, Any]) -> Optional[str]:
    """The local file of an open_clip pretrained tag (HF cache or open_clip's URL cache), or None."""
    if pcfg.get("file"):
        return str(pcfg["file"]) if os.path.isfile(pcfg["file"]) else None
    if pcfg.get("hf_hub"):
        from huggingface_hub import try_to_load_from_cache

        model_id, files = _hub_location(pcfg)
        for fname in files:
            found = try_to_load_from_cache(model_id, fname)
            if isinstance(found, str) and os.path.isfile(found):
                return found
    if pcfg.get("url"):
        candidate = os.path.join(os.path.expanduser("~"), ".cache", "clip", os.path.basename(pcfg["url"]))
        if os.path.isfile(candidate):
            return candidate
    return None


def _pretrained_missing_message(name: str, tag: str, pcfg: Mapping[str, Any], reason: str) -> str:
    from huggingface_hub import constants as hf_constants

    cache = hf_constants.HF_HUB_CACHE
    if pcfg.get("hf_hub"):
        model_id, files = _hub_location(pcfg)
        folder = os.path.join(cache, "models--" + model_id.replace("/", "--"))
        where = f"{files[0]} of {model_id} in the Hugging Face cache {cache} (folder {folder})"
        copy = f"then copy {folder} to the same place on this machine (or point HF_HOME / HF_HUB_CACHE at a copy)"
    else:
        folder = os.path.join(os.path.expanduser("~"), ".cache", "clip")
        where = f"{os.path.basename(pcfg.get('url', ''))} in open_clip's cache {folder}"
        copy = f"then copy that file into {folder} on this machine"
    return (
        f"The open_clip weights {name!r} with MODEL.BACKBONE.PRETRAINED {tag!r} are not in the local cache "
        f"({reason}): looked for {where}. On a machine with network, run "
        f"`python -c \"import open_clip; open_clip.create_model('{name}', pretrained='{tag}')\"`, {copy}; "
        "or pass the downloaded file with MODEL.BACKBONE.PATH."
    )


def _pretrained_file(name: str, tag: str) -> str:
    if open_clip.get_model_config(name) is None:
        raise _unknown_name_error(name)
    pcfg = open_clip.get_pretrained_cfg(name, tag)
    if not pcfg:
        tags = open_clip.list_pretrained_tags_by_model(name)
        raise ValueError(
            f"MODEL.BACKBONE.PRETRAINED {tag!r} is not a pretraining tag of open_clip model {name!r}; its tags are: "
            f"{', '.join(tags) or 'none (pass a local checkpoint with MODEL.BACKBONE.PATH)'}."
        )
    found = _cached_pretrained_file(pcfg)
    if found:
        return found
    if _offline():
        reason = f"offline: {OFFLINE_ENV} or HF_HUB_OFFLINE is set"
    elif not _network_reachable():
        reason = "no network to download them"
    else:
        try:
            return open_clip.pretrained.download_pretrained(pcfg)
        except Exception as err:  # network errors come in many types
            reason = f"download failed: {type(err).__name__}: {err}"
    raise ClipWeightsNotFound(_pretrained_missing_message(name, tag, pcfg, reason))


def _load_open_clip(name: str, pretrained: str, path: str, allow_pickle: bool) -> LoadedBackbone:
    if not path and not pretrained:
        coop = [k for k, v in CLIP_NAMES.items() if v == name]
        raise ValueError(
            f"open_clip model {name!r} needs its weights: MODEL.BACKBONE.PRETRAINED <tag> (its tags: "
            f"{', '.join(open_clip.list_pretrained_tags_by_model(name)) or 'none'}) or MODEL.BACKBONE.PATH <file>. "
            + (
                f"For OpenAI's weights use CoOp's name {coop[0]!r}."
                if coop
                else f"For OpenAI's weights under CoOp's names use one of {', '.join(CLIP_NAMES)}."
            )
        )
    if pretrained:
        file = path or _pretrained_file(name, pretrained)
        pcfg = open_clip.get_pretrained_cfg(name, pretrained) or {}
        keys = ("mean", "std", "interpolation", "resize_mode")
        preprocess = {k: pcfg[k] for k in keys if k in pcfg}
        model = _build_open_clip(name, quick_gelu=bool(pcfg.get("quick_gelu", False)), preprocess=preprocess)
    else:
        file = path
        model = _build_open_clip(name, path=path)
    _load_open_clip_weights(model, _read_checkpoint(file, allow_pickle), file)
    return LoadedBackbone(model, _open_clip_identity(model, name, pretrained, file if path else ""))


# ---------------------------------------------------------------------------- public API


def load_backbone(
    name: str,
    path: str = "",
    device: Device = "cpu",
    pretrained: str = "",
    allow_pickle: bool = False,
    openai_file: Optional[str] = None,
) -> LoadedBackbone:
    """Load CLIP (fp32, eval mode, frozen, on ``device``) and decide the identity of its weights.

    Args:
        name: CoOp's name (``RN50``, ``RN101``, ``ViT-B/32``, ``ViT-B/16``, ``ViT-L/14``), ``tiny``, or an
            open_clip model name (with ``pretrained`` or an open_clip-format ``path``). May be empty when
            ``path`` is an OpenAI-format file.
        path: a local checkpoint (OpenAI's format, or open_clip's: detected by its keys); wins over ``name``'s
            default weights.
        device: target device.
        pretrained: an open_clip pretraining tag (``MODEL.BACKBONE.PRETRAINED``), weights from the local cache.
        allow_pickle: unpickle checkpoints that hold Python objects (unsafe; ``MODEL.BACKBONE.ALLOW_PICKLE``).
        openai_file: OpenAI's file of a CoOp name as already found (:attr:`BackboneSpec.weights_file`;
            "" = none found); None searches the folders here.

    Raises:
        ValueError: unknown ``name`` or tag; UnsafeCheckpointError: a pickled checkpoint without
        ``allow_pickle``; UnsupportedBackboneError: an open_clip model this suite cannot drive;
        ClipWeightsNotFound: the weights are neither local nor downloadable.
    """
    name = (name or "").strip()
    path = os.path.expanduser((path or "").strip())
    pretrained = (pretrained or "").strip()
    if name and not is_table_name(name) and name not in open_clip.list_models() and not path:
        raise _unknown_name_error(name)
    if pretrained and (is_table_name(name) or not name):
        if pretrained == "openai" and name in CLIP_NAMES:
            pretrained = ""  # CoOp's names are OpenAI's weights already
        else:
            raise ValueError(
                f"MODEL.BACKBONE.PRETRAINED {pretrained!r} needs an open_clip model name in MODEL.BACKBONE.NAME "
                f"(e.g. {CLIP_NAMES.get(name, 'ViT-B-16')!r}), not {name or 'an empty name'!r}."
            )
    if path:
        raw = _read_checkpoint(path, allow_pickle)
        if _is_open_clip_format(raw, path, name) or pretrained:
            oc_name = name if (name and not is_table_name(name)) else CLIP_NAMES.get(name, name)
            loaded = _load_open_clip(oc_name, pretrained, path, allow_pickle)
        else:
            sd = _normalize_state_dict(raw, path)
            loaded = LoadedBackbone(
                model_from_openai_state_dict(sd), _openai_identity(sd, name, path, source="file")
            )
        return LoadedBackbone(_finalize(loaded.model, device), loaded.identity)
    if name == TINY_NAME:
        ident = BackboneIdentity(label=TINY_NAME, architecture=TINY_NAME, source="tiny", requested=name)
        return LoadedBackbone(_finalize(build_tiny_clip(), device), ident)
    if not name:
        raise _unknown_name_error(name)
    if name not in CLIP_NAMES:
        loaded = _load_open_clip(name, pretrained, path, allow_pickle)
        return LoadedBackbone(_finalize(loaded.model, device), loaded.identity)

    candidate = openai_file if openai_file is not None else find_openai_file(name)
    if candidate:
        logger.info("Loading CLIP %s from %s", name, candidate)
        sd = load_openai_state_dict(candidate, allow_pickle)
        model = model_from_openai_state_dict(sd)
        return LoadedBackbone(
            _finalize(model, device), _openai_identity(sd, name, candidate, source="openai")
        )

    if _offline():
        reason = f"{OFFLINE_ENV}=1 disables downloads"
    elif not _network_reachable():
        reason = "no network to download them"
    else:
        try:
            model = open_clip.create_model(
                CLIP_NAMES[name], pretrained="openai", force_quick_gelu=True, require_pretrained=True
            )
            ident = BackboneIdentity(
                label=name, architecture=name, source="openai", pretrained="openai", requested=name
            )
            return LoadedBackbone(_finalize(model, device), ident)
        except Exception as err:  # network errors come in many types
            reason = f"download failed: {type(err).__name__}: {err}"
    raise ClipWeightsNotFound(_not_found_message(name, reason))


def load_clip(
    name: str, path: str = "", device: Device = "cpu", pretrained: str = "", allow_pickle: bool = False
) -> CLIP:
    """:func:`load_backbone` without the identity: the model alone."""
    return load_backbone(name, path, device, pretrained=pretrained, allow_pickle=allow_pickle).model


def maybe_half(model: nn.Module, device: Device, prec: str) -> nn.Module:
    """Convert ``model`` to fp16 for ``prec == "fp16"`` on CUDA; a no-op otherwise (always fp32 on CPU).

    ``"amp"`` and ``"fp32"`` keep fp32 weights.
    """
    if prec not in ("fp16", "fp32", "amp"):
        raise ValueError(f"Unknown precision {prec!r}; expected fp16, fp32 or amp.")
    if prec == "fp16" and torch.device(device).type == "cuda":
        convert_weights_to_lp(model, torch.float16)
    return model


def clip_input_size(model: CLIP) -> int:
    """The (square) input resolution of the image encoder."""
    size = model.visual.image_size
    if isinstance(size, (tuple, list)):
        if size[0] != size[1]:
            raise ValueError(f"Non-square CLIP input size {tuple(size)}.")
        size = size[0]
    return int(size)


def is_vit(model: CLIP) -> bool:
    """True for a ViT image encoder (``visual.conv1`` + ``visual.transformer``), False for ResNets."""
    visual = model.visual
    return hasattr(visual, "transformer") and hasattr(visual, "conv1") and hasattr(visual, "proj")


@functools.lru_cache(maxsize=1)
def get_tokenizer() -> open_clip.tokenizer.SimpleTokenizer:
    """open_clip's CLIP BPE tokenizer (context 77; lower-cases text). Shared, built once."""
    return open_clip.tokenizer.SimpleTokenizer(context_length=77)
