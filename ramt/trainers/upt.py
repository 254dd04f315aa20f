"""UPT: unified prompt tuning, one shared prompt set for both encoders (docs/BASELINES.md, "UPT").

Zang et al. 2022, "Unified Vision and Language Prompt Learning" (no public code; project
reconstruction from the paper). One learnable prompt set ``U`` of ``N_CTX_TEXT + N_CTX_VISION``
tokens goes through a light transformer (``LAYERS`` = 1 self-attention layer, as the paper); its
output is split: the first ``N_CTX_TEXT`` tokens, projected to the text width, are CoOp's context
before each class name (CoOp's prompt assembly), the rest, projected to the image width, are
shallow visual prompts at the image encoder input (VPT's insertion). CLIP stays frozen; only ``U``,
the transformer and the two projections train.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from ramt.clip import encode_prompt_embeddings
from ramt.clip.visual_prompts import encoder_width
from ramt.registry import TRAINER_REGISTRY

from .coop import PromptLearner
from .vpt import VPT


class UnifiedPrompts(nn.Module):
    """The shared prompts ``U [n_text + n_vision, dim]`` -> light transformer -> (text ctx, visual prompts)."""

    def __init__(
        self,
        n_text: int,
        n_vision: int,
        dim: int,
        heads: int,
        layers: int,
        text_width: int,
        vision_width: int,
    ) -> None:
        super().__init__()
        if n_text < 1 or n_vision < 1 or layers < 1:
            raise ValueError(
                f"ERROR: UPT needs TRAINER.UPT.N_CTX_TEXT, N_CTX_VISION and LAYERS >= 1, got {n_text}, {n_vision}, {layers}."
            )
        if dim % heads:
            raise ValueError(
                f"ERROR: TRAINER.UPT.DIM ({dim}) must be a multiple of TRAINER.UPT.HEADS ({heads})."
            )
        shared = torch.empty(n_text + n_vision, dim)
        nn.init.normal_(shared, std=0.02)
        self.shared = nn.Parameter(shared)
        layer = nn.TransformerEncoderLayer(
            dim,
            heads,
            dim_feedforward=4 * dim,
            dropout=0.0,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        self.transformer = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.text_proj = nn.Linear(dim, text_width)
        self.visual_proj = nn.Linear(dim, vision_width)
        self.n_text, self.n_vision = n_text, n_vision

    def forward(self) -> tuple[torch.Tensor, torch.Tensor]:
        u = self.transformer(self.shared.unsqueeze(0))[0]
        return self.text_proj(u[: self.n_text]), self.visual_proj(u[self.n_text :])


@TRAINER_REGISTRY.register()
class UPT(VPT):
    """Unified Prompt Tuning on a frozen CLIP: text and visual prompts from one shared set."""

    options = "UPT"

    def build_prompt_learner(self, clip_model: nn.Module) -> nn.Module:
        c = self.cfg.TRAINER.UPT
        text_width = clip_model.token_embedding.weight.shape[1]
        print("Unified prompt design (project reconstruction of UPT)")
        print(f"Shared prompts: {c.N_CTX_TEXT} text + {c.N_CTX_VISION} visual tokens of width {c.DIM}")
        print(f"Light transformer: {c.LAYERS} layer(s), {c.HEADS} heads")
        return UnifiedPrompts(
            int(c.N_CTX_TEXT),
            int(c.N_CTX_VISION),
            int(c.DIM),
            int(c.HEADS),
            int(c.LAYERS),
            text_width,
            encoder_width(self.image_encoder),
        )

    def build_text_side(self, clip_model: nn.Module) -> None:
        """CoOp's prompt assembly (SOS, context, class name, '.', EOS) with the context supplied by ``U``."""
        text = PromptLearner(clip_model, self.classnames, int(self.cfg.TRAINER.UPT.N_CTX_TEXT))
        del text.ctx  # the context comes from the unified prompts
        self.text_prompts = text.to(self.device)
        self.truncate = bool(self.cfg.SPEED.TRUNCATE_TEXT) and not self.cfg.SPEED.REFERENCE

    def prompts(self) -> tuple[list[torch.Tensor], torch.Tensor]:
        text_ctx, visual = self.prompt_learner()
        return [visual], self.text_features_of(text_ctx)

    def text_features_of(self, text_ctx: torch.Tensor) -> torch.Tensor:
        """Unnormalised text features ``[C, D]`` with ``text_ctx`` as every class's context."""
        tp = self.text_prompts
        ctx = text_ctx.to(tp.token_prefix.dtype).unsqueeze(0).expand(tp.n_cls, -1, -1)
        embeddings = torch.cat([tp.token_prefix, ctx, tp.token_suffix], dim=1)
        with self.run_autocast(), self.attention_kernels():
            return encode_prompt_embeddings(
                self.clip_model, embeddings, tp.tokenized_prompts, truncate=self.truncate
            )


__all__ = ["UPT", "UnifiedPrompts"]
