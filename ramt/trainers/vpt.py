"""VPT-deep on CLIP: learnable visual prompt tokens at every layer of the image encoder (docs/BASELINES.md).

As MaPLe's ``trainers/vpt.py`` (muzairkhattak/multimodal-prompt-learning) and its
``configs/trainers/VPT/vit_b16_c2_ep5_batch4_4.yaml``: ``N_CTX_VISION`` tokens appended at the
encoder input and replaced before each of the first ``PROMPT_DEPTH_VISION`` blocks, the text
classifier fixed from the hand-written prompt ``"a photo of a {}."``, CLIP frozen, cross-entropy on
the cosine logits. The prompts reach open_clip's encoder through forward hooks
(:mod:`ramt.clip.visual_prompts`), so the encoder built by ``build_image_encoder`` (plain, or with a
finished R-AMT run's masks folded in for VPT-deep + R-AMT) is used unchanged and stays frozen.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ramt.clip import build_text_classifier, get_template, maybe_half, normalize
from ramt.clip.visual_prompts import (
    VisualPromptLearner,
    check_prompt_encoder,
    encoder_width,
    inserted_prompts,
)
from ramt.engine.clip_trainer import ClipTrainer
from ramt.engine.optim import build_lr_scheduler, build_optimizer
from ramt.engine.precision import precision_autocast, resolve_precision
from ramt.registry import TRAINER_REGISTRY

PRECISIONS = ("fp16", "fp32", "amp")
PROMPT_MODEL_NAME = "prompt_learner"


@TRAINER_REGISTRY.register()
class VPT(ClipTrainer):
    """Visual Prompt Tuning (deep) on a frozen CLIP with a fixed hand-written text classifier."""

    #: the config node of this trainer's options (UPT has its own)
    options = "VPT"

    def check_cfg(self, cfg) -> None:
        c = cfg.TRAINER[self.options]
        if c.PREC not in PRECISIONS:
            raise ValueError(
                f"ERROR: TRAINER.{self.options}.PREC must be one of {PRECISIONS}, got {c.PREC!r}. "
                f"Set TRAINER.{self.options}.PREC fp16 (the authors' choice), fp32 or amp."
            )

    def resolve_precision(self) -> str:
        return resolve_precision(self.cfg, self.options, self.device)

    def run_autocast(self):
        """fp16 autocast under amp; the fast path's bf16 autocast on CUDA under fp32; none for fp16."""
        return precision_autocast(self.prec, self.cfg, self.device)

    # ----------------------------------------------------------------- model
    def build_model(self) -> None:
        cfg = self.cfg
        self.prec = self.resolve_precision()
        clip_model = self.load_clip_model()
        print(f"Precision: {self.prec}")
        maybe_half(clip_model, self.device, self.prec)
        self.image_encoder = self.build_image_encoder(clip_model)
        self.n_blocks = check_prompt_encoder(self.image_encoder)
        print("Turning off gradients in both the image and the text encoder")
        for p in list(clip_model.parameters()) + list(self.image_encoder.parameters()):
            p.requires_grad_(False)
        clip_model.eval()
        self.image_encoder.eval()
        self.clip_model = clip_model.to(self.device)
        self.image_encoder.to(self.device)
        self.logit_scale = clip_model.logit_scale.exp().item()
        self.prompt_learner = self.build_prompt_learner(clip_model).to(self.device)
        self.build_text_side(clip_model)
        enabled = sorted(n for n, p in self.prompt_learner.named_parameters() if p.requires_grad)
        print(f"Parameters to be updated: {enabled}")
        optim = build_optimizer(self.prompt_learner, cfg.OPTIM)
        sched = build_lr_scheduler(optim, cfg.OPTIM)
        self.register_model(PROMPT_MODEL_NAME, self.prompt_learner, optim, sched)
        self.scaler = torch.amp.GradScaler("cuda") if self.prec == "amp" else None
        self.eval_state = None

    def prompt_depth(self) -> int:
        depth = int(self.cfg.TRAINER.VPT.PROMPT_DEPTH_VISION)
        if depth < 1:
            raise ValueError(
                f"ERROR: TRAINER.VPT.PROMPT_DEPTH_VISION must be >= 1 (1 = shallow VPT), got {depth}."
            )
        if depth > self.n_blocks:
            print(
                f"Note: PROMPT_DEPTH_VISION {depth} > the encoder's {self.n_blocks} blocks; prompting all of them"
            )
        return min(depth, self.n_blocks)

    def build_prompt_learner(self, clip_model: nn.Module) -> nn.Module:
        c = self.cfg.TRAINER.VPT
        depth = self.prompt_depth()
        print("Vision Prompting Design")
        print(f"Number of context words (tokens) for Vision prompting: {c.N_CTX_VISION}")
        print(f"Prompt depth: {depth} of {self.n_blocks} blocks ({'deep' if depth > 1 else 'shallow'})")
        return VisualPromptLearner(int(c.N_CTX_VISION), encoder_width(self.image_encoder), depth)

    def build_text_side(self, clip_model: nn.Module) -> None:
        """The fixed text classifier from the hand-written prompt (``TRAINER.VPT.TEMPLATE``)."""
        template = self.cfg.TRAINER.VPT.TEMPLATE or get_template(self.cfg.DATASET.NAME)
        print(f"Using fixed hand crafted prompts: {template!r}")
        self.text_features = build_text_classifier(
            clip_model, self.classnames, [template], device=self.device
        )
        clip_model.transformer = None  # the text tower is not needed any more

    # -------------------------------------------------------------- forwards
    def prompts(self) -> tuple[list[torch.Tensor], torch.Tensor]:
        """``(visual prompts per block, normalised text features [C, D])`` of the current parameters."""
        return self.prompt_learner(), self.text_features

    def encode_image(self, images: torch.Tensor, visual_prompts) -> torch.Tensor:
        """Image features with the prompts inserted (autograd reaches the prompts)."""
        dtype = self.image_encoder.conv1.weight.dtype
        with (
            self.run_autocast(),
            self.attention_kernels(),
            inserted_prompts(self.image_encoder, visual_prompts),
        ):
            return self.image_encoder(images.to(self.device, dtype=dtype))

    def logits_of(self, images: torch.Tensor, state) -> torch.Tensor:
        visual_prompts, text_features = state
        image_features = self.encode_image(images, visual_prompts)
        return self.logit_scale * normalize(image_features.float()) @ normalize(text_features.float()).t()

    # ----------------------------------------------------------------- train
    def forward_backward(self, batch: dict) -> dict:
        images, labels = self.parse_batch_train(batch)
        if self.prec == "amp":
            logits = self.logits_of(images, self.prompts())
            loss = F.cross_entropy(logits, labels)
            self.scaled_backward_and_update(loss, self.scaler, PROMPT_MODEL_NAME)
        else:
            logits = self.logits_of(images, self.prompts())
            loss = F.cross_entropy(logits, labels)
            self.model_backward_and_update(loss)
        summary = {"loss": loss.item(), "acc": (logits.argmax(1) == labels).float().mean().item() * 100.0}
        if self.is_last_batch():
            self.update_lr()
        return summary

    # ------------------------------------------------------------------ test
    def before_test(self, split: str) -> None:
        """The prompts (and text features) once per evaluation."""
        with torch.no_grad():
            visual, text = self.prompts()
            self.eval_state = ([p.detach() for p in visual], text.detach())

    def after_test(self, split: str) -> None:
        self.eval_state = None

    @torch.no_grad()
    def model_inference(self, images: torch.Tensor) -> torch.Tensor:
        return self.logits_of(images, self.eval_state or self.prompts())


__all__ = ["PROMPT_MODEL_NAME", "VPT"]
