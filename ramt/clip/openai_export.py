"""Writing a CLIP model's weights as an OpenAI-format checkpoint (plain tensors or TorchScript)."""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping

import torch
import torch.nn as nn

from .weights import _normalize_state_dict


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
