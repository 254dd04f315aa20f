"""Finding and reading CLIP weight files: where OpenAI's files are looked for, and reading a
checkpoint without unpickling Python objects (TorchScript archives, safetensors, plain tensors).

Split from :mod:`ramt.clip.backend` (building and identifying the model) and
:mod:`ramt.clip.openai_export` (writing OpenAI-format files). :func:`find_openai_file` is the one
search for a CoOp name's file; :class:`ramt.clip.spec.BackboneSpec` holds its result for the run.
"""

from __future__ import annotations

import os
import pickle
import warnings
import zipfile
from collections.abc import Mapping
from typing import Any, Optional

import torch
import torch.nn as nn

from .backbones import BACKBONES

#: Env var: an extra folder searched for OpenAI's ``.pt`` files (before ``~/.cache/clip``).
CLIP_DIR_ENV = "RAMT_CLIP_DIR"


#: CoOp's backbone name -> the file name OpenAI's loader stores in ``~/.cache/clip``.
OPENAI_FILES: dict[str, str] = {b.name: b.openai_file for b in BACKBONES.values() if b.openai_file}


_OPENAI_EXTRA_KEYS = ("input_resolution", "context_length", "vocab_size")


class ClipWeightsNotFound(FileNotFoundError):
    """The CLIP weights could not be found locally nor downloaded."""


class UnsafeCheckpointError(ValueError):
    """A checkpoint holds Python objects besides tensors and unpickling was not allowed."""


def clip_search_dirs() -> list[str]:
    """Folders searched for OpenAI's files: ``$RAMT_CLIP_DIR`` (if set), then ``~/.cache/clip``."""
    dirs = []
    env = os.environ.get(CLIP_DIR_ENV, "").strip()
    if env:
        dirs.append(os.path.expanduser(env))
    dirs.append(os.path.join(os.path.expanduser("~"), ".cache", "clip"))
    return dirs


def _is_torchscript_archive(path: str) -> bool:
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
    return any(n.endswith("/constants.pkl") or "/code/" in n for n in names)


def _convert_command(path: str) -> str:
    out = os.path.splitext(path)[0] + "-tensors.pt"
    return (
        "python -c \"import torch; sd = torch.load('" + path + "', map_location='cpu', weights_only=False); "
        "sd = sd.get('state_dict', sd) if isinstance(sd, dict) else sd.state_dict(); "
        "torch.save({k: v for k, v in sd.items() if isinstance(v, torch.Tensor)}, '" + out + "')\""
    )


def _read_checkpoint(path: str, allow_pickle: bool = False) -> Any:
    """The raw object in a checkpoint file, read without unpickling Python objects.

    TorchScript archives go through ``torch.jit.load`` (their state dict), ``.safetensors``
    through safetensors, anything else through ``torch.load(weights_only=True)``. A file that
    needs full unpickling raises :class:`UnsafeCheckpointError` unless ``allow_pickle``.
    """
    path = os.path.expanduser(str(path))
    if not os.path.isfile(path):
        raise ClipWeightsNotFound(f"CLIP checkpoint {path!r} (MODEL.BACKBONE.PATH) does not exist.")
    if _is_torchscript_archive(path):
        with warnings.catch_warnings():  # torch.jit is deprecated upstream but reads OpenAI's files
            warnings.simplefilter("ignore", FutureWarning)
            return torch.jit.load(path, map_location="cpu").state_dict()
    if path.endswith(".safetensors"):
        from safetensors.torch import load_file

        return load_file(path, device="cpu")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        if not allow_pickle:
            raise UnsafeCheckpointError(
                f"The CLIP checkpoint {path} (MODEL.BACKBONE.PATH) holds Python objects besides tensors "
                f"({str(err).splitlines()[0][:200]}). Loading it would unpickle them, which can run arbitrary "
                "code, so it is refused. Convert it once into a plain tensor file, on a machine where you trust "
                f"the file: `{_convert_command(path)}`, and pass the new file. Or, only for a file you trust, "
                "set MODEL.BACKBONE.ALLOW_PICKLE True (unsafe)."
            ) from None
        warnings.warn(
            f"{path} holds more than tensors; unpickling it in full because MODEL.BACKBONE.ALLOW_PICKLE is True "
            "(unsafe: only for files you trust).",
            stacklevel=2,
        )
        return torch.load(path, map_location="cpu", weights_only=False)


def load_openai_state_dict(path: str, allow_pickle: bool = False) -> dict[str, torch.Tensor]:
    """Read an OpenAI-format CLIP checkpoint (TorchScript archive or plain state dict).

    Returns fp32 tensors under OpenAI's keys (``visual.conv1.weight``, ``transformer...``).
    """
    return _normalize_state_dict(_read_checkpoint(path, allow_pickle), os.path.expanduser(str(path)))


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


def find_openai_file(name: str) -> Optional[str]:
    """The first of the search folders holding OpenAI's file of CoOp name ``name``, or None."""
    fname = OPENAI_FILES.get(name)
    for d in clip_search_dirs() if fname else []:
        candidate = os.path.join(d, fname)
        if os.path.isfile(candidate):
            return candidate
    return None
