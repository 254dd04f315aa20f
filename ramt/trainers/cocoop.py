"""CoCoOp: conditional context optimisation (Zhou et al., CVPR 2022; CoOp's trainers/cocoop.py).

CoOp's prompt learner plus a meta-network (Linear-ReLU-Linear, width ``dim // 16``) that turns each
image's normalised feature into a bias added to every context vector, so each image gets its own
prompts (docs/BASELINES.md, "CoCoOp"). The B x C prompts of a batch go through the text encoder in
one call (the authors' code loops over the images). Image features come from the frozen encoder of
:meth:`ClipTrainer.build_image_encoder` (the feature cache serves evaluation), so the two-stage
R-AMT composition applies unchanged.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn as nn

from ramt.clip import normalize
from ramt.registry import TRAINER_REGISTRY

from .coop import CoOp, PromptLearner


class ConditionalPromptLearner(PromptLearner):
    """CoOp's generic context (class token at the end) plus CoCoOp's meta-net.

    ``forward(image_features)`` takes L2-normalised image features ``[B, D]`` and returns the
    prompts ``[B, C, 77, W]`` built from the context shifted by each image's bias.
    """

    def __init__(self, clip_model: nn.Module, classnames, n_ctx: int, ctx_init: str, vis_dim: int):
        super().__init__(clip_model, classnames, n_ctx=n_ctx, ctx_init=ctx_init, csc=False, position="end")
        ctx_dim = self.ctx.shape[-1]
        self.meta_net = nn.Sequential(
            OrderedDict(
                [
                    ("linear1", nn.Linear(vis_dim, vis_dim // 16)),
                    ("relu", nn.ReLU(inplace=True)),
                    ("linear2", nn.Linear(vis_dim // 16, ctx_dim)),
                ]
            )
        )

    def forward(self, image_features: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        meta_dtype = self.meta_net.linear1.weight.dtype
        bias = self.meta_net(image_features.to(meta_dtype)).to(self.ctx.dtype)  # [B, W]
        ctx = self.ctx.unsqueeze(0) + bias.unsqueeze(1)  # [B, n_ctx, W]
        b, c = ctx.shape[0], self.n_cls
        return torch.cat(
            [
                self.token_prefix.unsqueeze(0).expand(b, -1, -1, -1),
                ctx.unsqueeze(1).expand(-1, c, -1, -1),
                self.token_suffix.unsqueeze(0).expand(b, -1, -1, -1),
            ],
            dim=2,
        )


@TRAINER_REGISTRY.register()
class CoCoOp(CoOp):
    """Conditional Context Optimization on a frozen CLIP (``TRAINER.COCOOP.*``)."""

    prec_node = "COCOOP"

    def check_cfg(self, cfg) -> None:
        super().check_cfg(cfg)
        c = cfg.TRAINER.COCOOP
        if c.PREC not in ("fp16", "fp32", "amp"):
            raise ValueError(f"TRAINER.COCOOP.PREC must be one of fp16, fp32, amp, got {c.PREC!r}.")
        if int(c.MAX_PROMPTS) < 1:
            raise ValueError(f"TRAINER.COCOOP.MAX_PROMPTS must be >= 1, got {c.MAX_PROMPTS!r}.")

    def build_prompt_learner(self, clip_model: nn.Module) -> PromptLearner:
        c = self.cfg.TRAINER.COCOOP
        vis_dim = int(clip_model.text_projection.shape[1])
        pl = ConditionalPromptLearner(clip_model, self.classnames, c.N_CTX, c.CTX_INIT, vis_dim)
        if self.prec == "fp16":  # as the authors' code: the meta-net in fp16 with the fp16 CLIP
            pl.meta_net.to(clip_model.token_embedding.weight.dtype)
        print(
            f"Meta-net: Linear({vis_dim}, {vis_dim // 16}) - ReLU - Linear({vis_dim // 16}, {pl.ctx.shape[-1]})"
        )
        return pl

    # -------------------------------------------------------------- forwards
    def text_features_per_image(self, image_features: torch.Tensor) -> torch.Tensor:
        """Unnormalised text features ``[B, C, D]`` of each image's prompts, in one text-encoder call.

        ``image_features`` are L2-normalised ``[B, D]``.
        """
        pl = self.prompt_learner
        prompts = pl(image_features)
        b, c = prompts.shape[:2]
        flat = prompts.reshape(b * c, *prompts.shape[2:])
        return self.encode_prompts(flat, pl.tokenized_prompts.repeat(b, 1)).reshape(b, c, -1)

    def conditional_logits(self, image_features: torch.Tensor) -> torch.Tensor:
        """``logit_scale * <image, text of its own prompts>`` per image and class, fp32 ``[B, C]``."""
        imf = normalize(image_features.float())
        text = normalize(self.text_features_per_image(imf).float())
        return self.logit_scale * torch.einsum("bd,bcd->bc", imf, text)

    def train_logits(self, image_features: torch.Tensor) -> torch.Tensor:
        return self.conditional_logits(image_features)

    # ------------------------------------------------------------------ test
    def before_test(self, split: str) -> None:
        """Nothing to precompute: the prompts depend on each image."""

    def head(self, image_features: torch.Tensor) -> torch.Tensor:
        """Logits of a block of images, in groups of at most ``MAX_PROMPTS`` prompts per text call."""
        per_call = max(1, int(self.cfg.TRAINER.COCOOP.MAX_PROMPTS) // self.prompt_learner.n_cls)
        return torch.cat(
            [
                self.conditional_logits(image_features[i : i + per_call])
                for i in range(0, len(image_features), per_call)
            ]
        )
