"""R-AMT: regularized attention mask tuning (AMT / R-MMT / R-PMT are config variants).

Frozen CLIP; binary masks on the image encoder trained with CE + mask-norm, the CE
gradient filtered by gradient dropout against a KL reference to zero-shot CLIP.
The classifier is zero-shot CLIP's text features, computed once.

The step is :meth:`~ramt.trainers._masked.MaskedTrainer.mask_step` with this trainer's head.
``SPEED`` picks the precision and kernels (same update either way): the fast path (bf16 autocast
on CUDA, fused attention, teacher without autograd, fused Adam on CUDA, optional
``torch.compile``, one host sync per step) or ``SPEED.REFERENCE`` (fp32, unfused attention; the
benchmarks add the official code's trainable teacher and per-tensor gradient dropout through
``benchmarks/reference.py``).
"""

from __future__ import annotations

import torch

from ramt.clip import build_text_classifier, get_template, normalize
from ramt.engine.clip_trainer import ClipTrainer
from ramt.registry import TRAINER_REGISTRY

from ._masked import MaskedTrainer


@TRAINER_REGISTRY.register()
class RAMT(MaskedTrainer, ClipTrainer):
    """Mask tuning of CLIP's image encoder (registered also as ``MaskTuning``)."""

    def build_model(self) -> None:
        cfg = self.cfg
        clip_model = self.load_clip_model()
        template = get_template(cfg.DATASET.NAME)
        print(f"Prompt template: {template!r}")
        # Official R-AMT: names lower-cased, raw embeddings averaged (one template: identical).
        self.text_features = build_text_classifier(
            clip_model, self.classnames, [template], lowercase=True, normalize_each=False
        ).to(self.device)
        self.logit_scale = clip_model.logit_scale.exp().item()
        print("Turning off gradients in both the image and the text encoder")
        self.build_mask_tuner(clip_model, compile=True)
        clip_model.transformer = None  # the text tower is not needed any more
        self.clip_model = clip_model.to(self.device)
        self.register_masks(cfg.OPTIM)
        self.eval_visual = None

    # --------------------------------------------------------------- heads
    def head(self, features: torch.Tensor) -> torch.Tensor:
        return self.logit_scale * normalize(features.float()) @ self.text_features.t()

    # ---------------------------------------------------------------- train
    def forward_backward(self, batch: dict) -> dict:
        images, labels = self.parse_batch_train(batch)
        return self.mask_step(images, labels, self.student_logits, self.teacher_logits)

    def student_logits(self, images: torch.Tensor) -> torch.Tensor:
        with self.autocast():
            return self.head(self.tuner.student(images))

    def teacher_logits(self, images: torch.Tensor) -> torch.Tensor:
        with self.autocast():
            return self.head(self.tuner.teacher(images))

    # ----------------------------------------------------------------- test
    def before_test(self, split: str) -> None:
        # Fold the binary masks into a copy of the encoder: inference costs exactly plain CLIP.
        self.eval_visual = self.tuner.folded_visual().eval()

    def after_test(self, split: str) -> None:
        self.eval_visual = None

    @torch.no_grad()
    def model_inference(self, images: torch.Tensor) -> torch.Tensor:
        with self.attention_kernels(), self.autocast():
            return self.head(self.eval_visual(images))

    def report_after_test(self, split: str) -> None:
        self.report_masks()

    def after_train(self) -> None:
        self.save_mask_run_info()
        super().after_train()


@TRAINER_REGISTRY.register()
class MaskTuning(RAMT):
    """The official release's trainer name, so its commands keep working."""
