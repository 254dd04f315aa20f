"""A frozen CLIP text tower with a low-precision copy of its matmul weights (CoOp's fast path).

CoOp runs the text transformer over every class prompt at every step (1,000 prompts for
ImageNet). Under bf16 autocast over fp32 weights, every step first casts each weight matrix to
bf16; this module holds those casts once. Only the weights autocast would cast anyway are
converted (linear and attention projections, the text projection); layer norms and the
positional embedding stay fp32, and the embeddings enter in fp32 as before, so under the same
autocast the features and gradients are the same as with the fp32 tower
(``tests/clip/test_text_lowp.py``). Used on CUDA only; the CPU keeps the fp32 tower.
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn

from .text import encode_prompt_embeddings


def _cast_matmul_weights_(module: nn.Module, dtype: torch.dtype) -> None:
    for m in module.modules():
        if isinstance(m, nn.Linear):
            m.weight.data = m.weight.data.to(dtype)
            if m.bias is not None:
                m.bias.data = m.bias.data.to(dtype)
        elif isinstance(m, nn.MultiheadAttention) and m.in_proj_weight is not None:
            m.in_proj_weight.data = m.in_proj_weight.data.to(dtype)
            if m.in_proj_bias is not None:
                m.in_proj_bias.data = m.in_proj_bias.data.to(dtype)


class LowPrecisionTextTower(nn.Module):
    """``clip_model``'s text transformer, final layer norm and projection, frozen, with the matmul
    weights stored in ``dtype``. Call it under autocast to the same ``dtype``."""

    text_pool_type = "argmax"

    def __init__(self, clip_model: nn.Module, dtype: torch.dtype = torch.bfloat16) -> None:
        super().__init__()
        self.transformer = copy.deepcopy(clip_model.transformer)
        _cast_matmul_weights_(self.transformer, dtype)
        self.ln_final = copy.deepcopy(clip_model.ln_final)
        self.register_buffer("positional_embedding", clip_model.positional_embedding.detach().clone())
        mask = clip_model.attn_mask
        self.register_buffer("attn_mask", None if mask is None else mask.detach().clone(), persistent=False)
        proj = clip_model.text_projection
        if isinstance(proj, nn.Linear):
            proj = copy.deepcopy(proj)
            _cast_matmul_weights_(proj, dtype)
            self.text_projection = proj
        elif proj is None:
            self.text_projection = None
        else:
            self.register_buffer("text_projection", proj.detach().to(dtype))
        self.requires_grad_(False)
        self.eval()

    def forward(self, embeddings: Tensor, tokens: Tensor, truncate: bool = True) -> Tensor:
        """Unnormalised text features from prompt embeddings (gradients flow into ``embeddings``)."""
        return encode_prompt_embeddings(self, embeddings, tokens, truncate, cast_dtype=torch.float32)
