"""Learnable visual prompt tokens inside an open_clip ViT image encoder, through forward hooks.

VPT on CLIP as MaPLe's ``trainers/vpt.py`` runs it: ``n`` prompt tokens are appended after the
class and patch tokens (after the positional embedding, before ``ln_pre``); in the deep variant
the outputs at those positions are replaced by fresh tokens before every later block ``i < depth``.
The encoder's own code runs unchanged: :func:`inserted_prompts` hooks ``ln_pre`` and the blocks
for the duration of one forward (the same way the masks reach the encoder without changing it),
so it works on every open_clip ViT, plain or with R-AMT masks folded in. The prompt outputs are
dropped after the transformer, so the pooling (class token, or average) sees the usual tokens.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import torch
import torch.nn as nn

__all__ = ["VisualPromptLearner", "check_prompt_encoder", "encoder_width", "inserted_prompts"]


def check_prompt_encoder(visual: nn.Module) -> int:
    """The number of blocks of a ViT encoder that can take visual prompts (ValueError otherwise)."""
    blocks = getattr(getattr(visual, "transformer", None), "resblocks", None)
    if getattr(visual, "ln_pre", None) is None or blocks is None or not hasattr(visual, "conv1"):
        raise ValueError(
            f"ERROR: visual prompts need a ViT image encoder (conv1, ln_pre, transformer.resblocks); "
            f"{type(visual).__name__} is not one. Use a ViT backbone (MODEL.BACKBONE.NAME tiny, ViT-B/16 "
            "or an open_clip ViT)."
        )
    return len(blocks)


def encoder_width(visual: nn.Module) -> int:
    """The token width of a ViT encoder (the prompts' dimension)."""
    return int(visual.conv1.weight.shape[0])


@contextlib.contextmanager
def inserted_prompts(visual: nn.Module, prompts: Sequence[torch.Tensor]) -> Iterator[nn.Module]:
    """Within the block, ``visual(x)`` runs with ``prompts[0]`` appended at the input and
    ``prompts[i]`` replacing the prompt positions before block ``i`` (``[n, width]`` each)."""
    n_blocks = check_prompt_encoder(visual)
    if not prompts or len(prompts) > n_blocks:
        raise ValueError(f"Expected 1 to {n_blocks} prompt tensors (one per block), got {len(prompts)}.")
    n = int(prompts[0].shape[0])
    if any(p.dim() != 2 or p.shape[0] != n for p in prompts):
        raise ValueError(
            f"Every prompt tensor must be [n, width] with the same n; got {[tuple(p.shape) for p in prompts]}."
        )
    batch_first = bool(getattr(visual.transformer, "batch_first", True))

    def append(module, args):
        x = args[0]  # [N, L, D]: class + patch tokens after the positional embedding
        ctx = prompts[0].to(x.dtype).unsqueeze(0).expand(x.shape[0], -1, -1)
        return (torch.cat([x, ctx], dim=1), *args[1:])

    def replacer(ctx_i: torch.Tensor):
        def replace(module, args, kwargs):
            x = args[0]
            if batch_first:  # [N, L, D]
                ctx = ctx_i.to(x.dtype).unsqueeze(0).expand(x.shape[0], -1, -1)
                x = torch.cat([x[:, : x.shape[1] - n], ctx], dim=1)
            else:  # [L, N, D]
                ctx = ctx_i.to(x.dtype).unsqueeze(1).expand(-1, x.shape[1], -1)
                x = torch.cat([x[: x.shape[0] - n], ctx], dim=0)
            return (x, *args[1:]), kwargs

        return replace

    def drop(module, args, output):
        return output[:, : output.shape[1] - n]  # open_clip's Transformer returns [N, L, D]

    handles = [visual.ln_pre.register_forward_pre_hook(append)]
    for i, ctx_i in enumerate(prompts[1:], start=1):
        block = visual.transformer.resblocks[i]
        handles.append(block.register_forward_pre_hook(replacer(ctx_i), with_kwargs=True))
    handles.append(visual.transformer.register_forward_hook(drop))
    try:
        yield visual
    finally:
        for h in handles:
            h.remove()


class VisualPromptLearner(nn.Module):
    """VPT's learnable prompts: ``depth`` tensors ``[n_ctx, width]`` (1 = shallow), N(0, 0.02) init."""

    def __init__(self, n_ctx: int, width: int, depth: int, dtype: torch.dtype = torch.float32, device=None):
        super().__init__()
        if n_ctx < 1 or depth < 1:
            raise ValueError(f"Visual prompts need n_ctx >= 1 and depth >= 1, got {n_ctx} and {depth}.")
        ctx = []
        for _ in range(depth):
            vectors = torch.empty(n_ctx, width, dtype=dtype, device=device)
            nn.init.normal_(vectors, std=0.02)
            ctx.append(nn.Parameter(vectors))
        self.ctx = nn.ParameterList(ctx)
        self.n_ctx, self.depth = n_ctx, depth

    def forward(self) -> list[torch.Tensor]:
        return list(self.ctx)
