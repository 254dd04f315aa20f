"""CoOp + R-AMT: CoOp running on the R-AMT-masked image encoder (docs/BASELINES.md section 4).

Project reconstruction (no public code exists). Default ``COMBO.MODE two_stage``: the masks of the
finished R-AMT run named by ``MASK.SOURCE_RUN`` are folded into the image encoder, and CoOp runs
unchanged on it (the masks never change). ``COMBO.MODE joint`` trains the masks (a
:class:`~ramt.mask_tuning.MaskTuner` registered as ``shared``) together with the context: the
context gets plain CE gradients and CoOp's SGD schedule, the masks R-AMT's Adam and the
GDR-filtered gradient against zero-shot CLIP.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from ramt.clip import build_text_classifier, get_template, normalize
from ramt.config import get_cfg_default, merge_from_file, recipe_config
from ramt.methods import dataset_config_name
from ramt.registry import TRAINER_REGISTRY

from ._masked import COMBO_MODES, MaskedTrainer, SourceMasks, check_combo_mode
from .coop import PROMPT_MODEL_NAME, CoOp


def mask_optim_cfg(cfg):
    """The joint mode's mask optimiser: R-AMT's own recipe for this dataset (the OPTIM block of the
    shipped R-AMT config scripts/ramt/main.sh uses: Adam 8e-5, ImageNet 3e-5, no weight decay,
    cosine, no warm-up), over the host's ``OPTIM.MAX_EPOCH``."""
    recipe = get_cfg_default()
    merge_from_file(recipe, recipe_config("RAMT", dataset_config_name(cfg.DATASET.NAME)), kind="trainers")
    ocfg = recipe.OPTIM.clone()
    ocfg.MAX_EPOCH = cfg.OPTIM.MAX_EPOCH
    ocfg.freeze()
    return ocfg


@TRAINER_REGISTRY.register()
class CoOpRAMT(MaskedTrainer, SourceMasks, CoOp):
    """CoOp on the masked encoder (two-stage by default; ``COMBO.MODE joint`` optional)."""

    combo_modes = COMBO_MODES

    @property
    def joint(self) -> bool:
        return self.combo_mode == "joint"

    def resolve_precision(self) -> str:
        prec = super().resolve_precision()
        if self.joint and prec != "fp32":
            print(f"Note: COMBO.MODE joint trains fp32 masks through fp32 weights; PREC {prec} -> fp32")
            return "fp32"
        return prec

    # ------------------------------------------------------------- the hook
    def build_image_encoder(self, clip_model: nn.Module) -> nn.Module:
        if not self.joint:
            return super().build_image_encoder(clip_model)  # two-stage: the folded source masks
        print("Combination (project reconstruction, joint mode): masks and context trained together")
        self.build_mask_tuner(clip_model)
        return clip_model.visual  # the masked forward goes through the tuner

    def build_extra(self, clip_model: nn.Module) -> None:
        if not self.joint:
            return
        template = get_template(self.cfg.DATASET.NAME)
        print(f"Zero-shot reference for GDR: template {template!r}, unmasked encoder")
        self.zs_text_features = build_text_classifier(
            clip_model, self.classnames, [template], device=self.device
        )
        ocfg = mask_optim_cfg(self.cfg)
        print(
            f"Mask optimiser: {ocfg.NAME} lr {ocfg.LR} wd {ocfg.WEIGHT_DECAY}, cosine over {ocfg.MAX_EPOCH} epochs"
        )
        self.register_masks(ocfg)

    # ---------------------------------------------------------------- joint
    def forward_backward(self, batch: dict) -> dict:
        if not self.joint:
            return super().forward_backward(batch)
        images, labels = self.parse_batch_train(batch)
        return self.mask_step(images, labels, self.student_logits, self.teacher_logits, self.context_gradient)

    def student_logits(self, images: torch.Tensor) -> torch.Tensor:
        with self.autocast():
            image_features = self.tuner.student(images)
        return self.logits(image_features.float(), self.encode_text().float())

    def teacher_logits(self, images: torch.Tensor) -> torch.Tensor:
        with torch.no_grad(), self.autocast():
            teacher = normalize(self.tuner.teacher(images).float())
        return self.logit_scale * teacher @ self.zs_text_features.t()

    def context_gradient(self, loss_ce: torch.Tensor) -> None:
        """Plain CE for the context (GDR filters the mask gradient only)."""
        ctx = self.prompt_learner.ctx
        (ctx.grad,) = torch.autograd.grad(loss_ce, [ctx], retain_graph=True)

    # ----------------------------------------------------------------- test
    def before_test(self, split: str) -> None:
        if self.joint:  # evaluate the folded copy: plain-CLIP inference cost
            self._train_encoder = self.image_encoder
            self.image_encoder = self.tuner.folded_visual().eval()
            self.encoder_id = f"ramt:{self.tuner.fingerprint()}"
        super().before_test(split)

    def after_test(self, split: str) -> None:
        super().after_test(split)
        if self.joint:
            self.image_encoder = self._train_encoder

    def report_after_test(self, split: str) -> None:
        if not self.joint:
            return super().report_after_test(split)
        self.report_masks()
        self.extra_results["combo_mode"] = "joint"


__all__ = ["CoOpRAMT", "PROMPT_MODEL_NAME", "check_combo_mode"]
