"""Loading CLIP through open_clip: CoOp's backbone names, OpenAI-format files, and ``tiny``.

:func:`load_clip` always returns an fp32 model in eval mode with every parameter frozen.
Half precision is a trainer's choice on CUDA only (see :func:`maybe_half`); never on CPU.

Where the OpenAI weights are looked for, in order:

1. ``path`` (``MODEL.BACKBONE.PATH``): a TorchScript archive as OpenAI ships it
   (``~/.cache/clip/ViT-B-16.pt``) or a plain state dict (optionally under ``"state_dict"``);
2. ``$RAMT_CLIP_DIR/<file>`` and ``~/.cache/clip/<file>`` (``<file>`` as in :data:`OPENAI_FILES`);
3. open_clip's own download (``pretrained="openai"``), skipped when ``RAMT_OFFLINE=1`` or when
   no network answers within a few seconds.

Otherwise :class:`ClipWeightsNotFound` (a ``FileNotFoundError``) says which file to put where.
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import logging
import math
import os
import pickle
import re
import socket
import warnings
import zipfile
from collections.abc import Mapping
from typing import Any, Union

import open_clip
import torch
from open_clip.model import CLIP, CLIPTextCfg, CLIPVisionCfg, convert_weights_to_lp
from torch import nn

__all__ = [
    "CLIP_DIR_ENV",
    "CLIP_NAMES",
    "OFFLINE_ENV",
    "ClipWeightsNotFound",
    "OPENAI_FILES",
    "TINY_CONFIG",
    "VIT_B16_SHA256",
    "build_tiny_clip",
    "clip_input_size",
    "clip_search_dirs",
    "get_tokenizer",
    "is_vit",
    "load_clip",
    "load_openai_state_dict",
    "maybe_half",
    "model_from_openai_state_dict",
    "save_openai_checkpoint",
]

logger = logging.getLogger(__name__)

Device = Union[str, torch.device]

#: CoOp's backbone name -> open_clip model name (all with the ``openai`` pretrained tag).
CLIP_NAMES: dict[str, str] = {
    "RN50": "RN50",
    "RN101": "RN101",
    "ViT-B/32": "ViT-B-32",
    "ViT-B/16": "ViT-B-16",
    "ViT-L/14": "ViT-L-14",
}
#: CoOp's backbone name -> the file name OpenAI's loader stores in ``~/.cache/clip``.
OPENAI_FILES: dict[str, str] = {
    "RN50": "RN50.pt",
    "RN101": "RN101.pt",
    "ViT-B/32": "ViT-B-32.pt",
    "ViT-B/16": "ViT-B-16.pt",
    "ViT-L/14": "ViT-L-14.pt",
}
#: SHA-256 of OpenAI's ViT-B/16 file (docs/METHOD_SPEC.md section 1).
VIT_B16_SHA256 = "5806e77cd80f8b59890b7e101eabd078d9fb84e6937f9e85e4ecb61988df416f"

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
#: Env var: an extra folder searched for OpenAI's ``.pt`` files (before ``~/.cache/clip``).
CLIP_DIR_ENV = "RAMT_CLIP_DIR"
_HEAD_WIDTH = 64  # OpenAI CLIP: heads = width // 64, for both towers
_OPENAI_EXTRA_KEYS = ("input_resolution", "context_length", "vocab_size")


class ClipWeightsNotFound(FileNotFoundError):
    """The CLIP weights could not be found locally nor downloaded."""


# ---------------------------------------------------------------------------- small helpers


def _accepted_names() -> list[str]:
    return [*CLIP_NAMES, TINY_NAME]


def _unknown_name_error(name: str) -> ValueError:
    accepted = _accepted_names()
    # Also match open_clip spellings such as "ViT-B-16".
    candidates = {n: n for n in accepted}
    candidates.update({v: k for k, v in CLIP_NAMES.items()})
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.5)
    hint = f" Did you mean {candidates[close[0]]!r}?" if close else ""
    return ValueError(f"Unknown CLIP backbone {name!r}.{hint} Accepted names: {', '.join(accepted)}.")


def _offline() -> bool:
    return os.environ.get(OFFLINE_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def _network_reachable(timeout: float = 3.0) -> bool:
    hosts = [("huggingface.co", 443), ("openaipublic.azureedge.net", 443)]
    for host, port in hosts:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                return True
        except OSError:
            continue
    return False


def clip_search_dirs() -> list[str]:
    """Folders searched for OpenAI's files: ``$RAMT_CLIP_DIR`` (if set), then ``~/.cache/clip``."""
    dirs = []
    env = os.environ.get(CLIP_DIR_ENV, "").strip()
    if env:
        dirs.append(os.path.expanduser(env))
    dirs.append(os.path.join(os.path.expanduser("~"), ".cache", "clip"))
    return dirs


def _sha256_hint(name: str) -> str:
    if name == "ViT-B/16":
        return VIT_B16_SHA256
    try:  # the OpenAI download address embeds the file's SHA-256
        url = open_clip.get_pretrained_cfg(CLIP_NAMES[name], "openai").get("url", "")
    except Exception:  # pragma: no cover - depends on open_clip internals
        return ""
    m = re.search(r"/([0-9a-f]{64})/", url)
    return m.group(1) if m else ""


def _not_found_message(name: str, reason: str) -> str:
    fname = OPENAI_FILES[name]
    where = os.path.join("~", ".cache", "clip", fname)
    sha = _sha256_hint(name)
    sha_txt = f" Its SHA-256 is {sha} (check with `sha256sum {fname}`)." if sha else ""
    return (
        f"CLIP weights for {name!r} were not found ({reason}). Put OpenAI's file {fname} at {where} "
        f"(the file OpenAI's `clip.load({name!r})` downloads), or in ${CLIP_DIR_ENV}/{fname}, or pass its "
        f"location explicitly with `MODEL.BACKBONE.PATH /path/to/{fname}`.{sha_txt} A plain state dict in "
        f"OpenAI's key format is accepted too."
    )


# ---------------------------------------------------------------------------- state dicts


def _is_torchscript_archive(path: str) -> bool:
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
    return any(n.endswith("/constants.pkl") or "/code/" in n for n in names)


def load_openai_state_dict(path: str) -> dict[str, torch.Tensor]:
    """Read an OpenAI-format CLIP checkpoint (TorchScript archive or plain state dict).

    Returns fp32 tensors under OpenAI's keys (``visual.conv1.weight``, ``transformer...``).
    """
    path = os.path.expanduser(str(path))
    if not os.path.isfile(path):
        raise ClipWeightsNotFound(f"CLIP checkpoint {path!r} (MODEL.BACKBONE.PATH) does not exist.")
    if _is_torchscript_archive(path):
        with warnings.catch_warnings():  # torch.jit is deprecated upstream but reads OpenAI's files
            warnings.simplefilter("ignore", FutureWarning)
            sd = torch.jit.load(path, map_location="cpu").state_dict()
    else:
        try:
            sd = torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as err:
            warnings.warn(
                f"{path} holds more than tensors (weights_only=True refused it: {err}); loading it with "
                "full unpickling. Only do this for files you trust; re-save it with "
                "ramt.clip.save_openai_checkpoint to avoid this.",
                stacklevel=2,
            )
            sd = torch.load(path, map_location="cpu", weights_only=False)
    return _normalize_state_dict(sd, path)


def _normalize_state_dict(obj: Any, source: str = "") -> dict[str, torch.Tensor]:
    if isinstance(obj, nn.Module):
        obj = obj.state_dict()
    if isinstance(obj, Mapping):
        for key in ("state_dict", "model"):
            if key in obj and isinstance(obj[key], Mapping) and "visual.proj" not in obj:
                obj = obj[key]
                break
    if not isinstance(obj, Mapping):
        raise ValueError(f"{source or 'checkpoint'}: expected a state dict, got {type(obj).__name__}.")
    out: dict[str, torch.Tensor] = {}
    for k, v in obj.items():
        if k.startswith("module."):
            k = k[len("module.") :]
        if k in _OPENAI_EXTRA_KEYS or not isinstance(v, torch.Tensor):
            continue
        out[k] = v.detach().float() if v.is_floating_point() else v.detach()
    if "text_projection" not in out or "token_embedding.weight" not in out:
        raise ValueError(
            f"{source or 'checkpoint'} is not a CLIP checkpoint in OpenAI's key format "
            "(no 'text_projection' / 'token_embedding.weight')."
        )
    return out


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


def load_clip(name: str, path: str = "", device: Device = "cpu") -> CLIP:
    """Load CLIP as an open_clip ``CLIP``: fp32, eval mode, all parameters frozen, on ``device``.

    Args:
        name: CoOp's name (``RN50``, ``RN101``, ``ViT-B/32``, ``ViT-B/16``, ``ViT-L/14``) or ``tiny``.
            May be empty when ``path`` is given.
        path: a local OpenAI-format checkpoint (TorchScript or state dict); wins over ``name``.
        device: target device.

    Raises:
        ValueError: unknown ``name``.
        ClipWeightsNotFound: the weights are neither local nor downloadable.
    """
    name = (name or "").strip()
    path = (path or "").strip()
    if path:
        return _finalize(model_from_openai_state_dict(load_openai_state_dict(path)), device)
    if name == TINY_NAME:
        return _finalize(build_tiny_clip(), device)
    if name not in CLIP_NAMES:
        raise _unknown_name_error(name)

    fname = OPENAI_FILES[name]
    for d in clip_search_dirs():
        candidate = os.path.join(d, fname)
        if os.path.isfile(candidate):
            logger.info("Loading CLIP %s from %s", name, candidate)
            return _finalize(model_from_openai_state_dict(load_openai_state_dict(candidate)), device)

    if _offline():
        reason = f"{OFFLINE_ENV}=1 disables downloads"
    elif not _network_reachable():
        reason = "no network to download them"
    else:
        try:
            model = open_clip.create_model(
                CLIP_NAMES[name], pretrained="openai", force_quick_gelu=True, require_pretrained=True
            )
            return _finalize(model, device)
        except Exception as err:  # network errors come in many types
            reason = f"download failed: {type(err).__name__}: {err}"
    raise ClipWeightsNotFound(_not_found_message(name, reason))


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


class _TensorTree(nn.Module):
    """A module tree holding tensors as buffers under dotted names (for TorchScript export)."""

    def __init__(self, tensors: Mapping[str, torch.Tensor]):
        super().__init__()
        for key, value in tensors.items():
            *parents, leaf = key.split(".")
            node: nn.Module = self
            for part in parents:
                if part not in node._modules:
                    node.add_module(part, _TensorLeaf())
                node = node._modules[part]
            node.register_buffer(leaf, value.detach().clone())

    def forward(self) -> int:
        return 0


class _TensorLeaf(nn.Module):
    def forward(self) -> int:
        return 0


def save_openai_checkpoint(model: nn.Module, path: str, torchscript: bool = False) -> str:
    """Write ``model``'s weights in OpenAI's key format (fp32) and return ``path``.

    ``torchscript=False`` writes a plain state dict (``torch.load(weights_only=True)`` reads it);
    ``torchscript=True`` writes a TorchScript archive whose ``state_dict()`` has the same keys,
    like OpenAI's own files.
    """
    sd = {
        k: (v.detach().float().cpu() if v.is_floating_point() else v.detach().cpu())
        for k, v in model.state_dict().items()
    }
    sd = _normalize_state_dict(sd)
    path = os.path.expanduser(str(path))
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}"
    if torchscript:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            torch.jit.save(torch.jit.script(_TensorTree(sd)), tmp)
    else:
        torch.save(sd, tmp)
    os.replace(tmp, path)
    return path
