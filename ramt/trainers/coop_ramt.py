"""CoOp + R-AMT: CoOp running on the R-AMT-masked image encoder (baselines spec section 4).

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
import torch.nn.functional as F

from ramt.clip import build_text_classifier, get_template, normalize
from ramt.engine.optim import build_lr_scheduler, build_optimizer
from ramt.engine.precision import fuse_optimizer
from ramt.mask_source import folded_source_encoder
from ramt.mask_tuning import MASK_MODEL_NAME, MaskTuner
from ramt.registry import TRAINER_REGISTRY

from .coop import PROMPT_MODEL_NAME, CoOp

COMBO_MODES = ("two_stage", "joint")
# R-AMT's mask learning rate (method spec section 8), used by the joint mode.
RAMT_MASK_LR = 8e-5
RAMT_MASK_LR_IMAGENET = 3e-5


def check_combo_mode(cfg, allowed=COMBO_MODES) -> str:
    mode = cfg.COMBO.MODE
    if mode not in allowed:
        raise ValueError(f"COMBO.MODE must be one of {allowed} for {cfg.TRAINER.NAME}, got {mode!r}.")
    return mode


def mask_optim_cfg(cfg):
    """R-AMT's mask optimiser: Adam, lr 8e-5 (ImageNet 3e-5), no weight decay, cosine, no warm-up."""
    ocfg = cfg.OPTIM.clone()
    ocfg.defrost()
    ocfg.NAME = "adam"
    ocfg.LR = RAMT_MASK_LR_IMAGENET if cfg.DATASET.NAME == "ImageNet" else RAMT_MASK_LR
    ocfg.WEIGHT_DECAY = 0.0
    ocfg.LR_SCHEDULER = "cosine"
    ocfg.WARMUP_EPOCH = -1
    ocfg.freeze()
    return ocfg


@TRAINER_REGISTRY.register()
class CoOpRAMT(CoOp):
    """CoOp on the masked encoder (two-stage by default; ``COMBO.MODE joint`` optional)."""

    def check_cfg(self, cfg) -> None:
        super().check_cfg(cfg)
        self.mode = check_combo_mode(cfg)

    @property
    def joint(self) -> bool:
        return self.mode == "joint"

    def resolve_precision(self) -> str:
        prec = super().resolve_precision()
        if self.joint and prec != "fp32":
            print(f"Note: COMBO.MODE joint trains fp32 masks through fp32 weights; PREC {prec} -> fp32")
            return "fp32"
        return prec

    # ------------------------------------------------------------- the hook
    def build_image_encoder(self, clip_model: nn.Module) -> nn.Module:
        if self.joint:
            print("Combination (project reconstruction, joint mode): masks and context trained together")
            self.tuner = MaskTuner(self.cfg, clip_model, self.device)
            self.tuner.describe()
            return clip_model.visual  # the masked forward goes through the tuner
        visual, self.mask_info = folded_source_encoder(self.cfg, clip_model, self.dm.dataset)
        self.encoder_id = f"ramt:{self.mask_info['mask_fingerprint']}"
        return visual

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
        optim = fuse_optimizer(build_optimizer([self.tuner.mask_set.flat], ocfg), self.cfg, self.device)
        sched = build_lr_scheduler(optim, ocfg)
        self.register_model(MASK_MODEL_NAME, self.tuner.mask_set, optim, sched)

    # ---------------------------------------------------------------- joint
    def forward_backward(self, batch: dict) -> dict:
        if not self.joint:
            return super().forward_backward(batch)
        images, labels = self.parse_batch_train(batch)
        tuner = self.tuner
        with self.autocast():
            image_features = tuner.student(images)
        logits = self.logits(image_features.float(), self.encode_text().float())
        loss_ce = F.cross_entropy(logits, labels)
        loss_mask = tuner.mask_loss()
        loss_task = loss_ce + loss_mask
        loss_kl = None
        if tuner.gdr:
            with torch.no_grad(), self.autocast():
                teacher = normalize(tuner.teacher(images).float())
            loss_kl = tuner.reference_loss(logits, self.logit_scale * teacher @ self.zs_text_features.t())
            self.detect_anomaly(torch.stack([loss_task.detach(), loss_kl.detach()]), "Loss")
        else:
            self.detect_anomaly(loss_task.detach(), "Loss")
        self.model_zero_grad()
        ctx = self.prompt_learner.ctx
        (ctx.grad,) = torch.autograd.grad(loss_ce, [ctx], retain_graph=True)  # plain CE for the context
        tuner.set_mask_gradient(loss_task, loss_kl)  # GDR on the mask gradient only
        self.model_update()
        summary = {
            "loss": loss_ce.item(),
            "mask_loss": loss_mask.item(),
            "kl_loss": loss_kl.item() if loss_kl is not None else 0.0,
            "acc": (logits.argmax(1) == labels).float().mean().item() * 100.0,
        }
        if self.is_last_batch():
            self.update_lr()
        return summary

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
        if self.joint:
            self.extra_results["sparsity"] = self.tuner.report_sparsity(self.output_dir)
            self.extra_results["gdr_lambda"] = self.tuner.lam if self.tuner.gdr else None
            self.extra_results["mask_fingerprint"] = self.tuner.fingerprint()
            self.extra_results["combo_mode"] = "joint"
        else:
            info = self.mask_info
            self.extra_results["mask_fingerprint"] = info["mask_fingerprint"]
            self.extra_results["mask_run"] = info["run_dir"]
            self.extra_results["combo_mode"] = "two_stage"
            print(f"Masks from {info['run_dir']} (fingerprint {info['mask_fingerprint']})")

    # ---------------------------------------------------------- checkpoints
    def checkpoint_state(self, name: str) -> dict:
        if name == MASK_MODEL_NAME:
            return {"state_dict": self.tuner.packed(self.epoch + 1), "optimizer": None, "scheduler": None}
        return super().checkpoint_state(name)

    def load_checkpoint_state(self, name: str, checkpoint: dict) -> None:
        if name == MASK_MODEL_NAME:
            self.tuner.load_packed(checkpoint["state_dict"])
            return
        super().load_checkpoint_state(name, checkpoint)


__all__ = ["CoOpRAMT", "PROMPT_MODEL_NAME"]
