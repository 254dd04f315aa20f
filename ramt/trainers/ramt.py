"""R-AMT: regularized attention mask tuning (AMT / R-MMT / R-PMT are config variants).

Frozen CLIP; binary masks on the image encoder trained with CE + mask-norm, the CE
gradient filtered by gradient dropout against a KL reference to zero-shot CLIP.
The classifier is zero-shot CLIP's text features, computed once.

``SPEED`` picks how the step runs (same update either way): the fast path (bf16 autocast on
CUDA, fused attention, teacher without autograd, fused Adam on CUDA, optional
``torch.compile``, one host sync per step) or the reference mode (``SPEED.REFERENCE``: fp32,
unfused attention, the official code's trainable teacher and per-tensor gradient dropout).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ramt.clip import build_text_classifier, get_template, normalize
from ramt.engine.clip_trainer import ClipTrainer
from ramt.engine.optim import build_lr_scheduler, build_optimizer
from ramt.engine.precision import fuse_optimizer, use_compile
from ramt.mask_tuning import MASK_MODEL_NAME, MaskTuner, save_run_info
from ramt.registry import TRAINER_REGISTRY


@TRAINER_REGISTRY.register()
class RAMT(ClipTrainer):
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
        self.tuner = MaskTuner(cfg, clip_model, self.device)
        clip_model.transformer = None  # the text tower is not needed any more
        self.clip_model = clip_model.to(self.device)
        self.tuner.describe()
        if use_compile(cfg, self.device):
            mode = cfg.SPEED.COMPILE_MODE
            print(f"torch.compile: student and teacher forwards (mode {mode or 'default'})")
            self.tuner.compile(**({"mode": mode} if mode else {}))
        optim = fuse_optimizer(build_optimizer([self.tuner.mask_set.flat], cfg.OPTIM), cfg, self.device)
        sched = build_lr_scheduler(optim, cfg.OPTIM)
        self.register_model(MASK_MODEL_NAME, self.tuner.mask_set, optim, sched)
        self.eval_visual = None

    # --------------------------------------------------------------- heads
    def head(self, features: torch.Tensor) -> torch.Tensor:
        return self.logit_scale * normalize(features.float()) @ self.text_features.t()

    # ---------------------------------------------------------------- train
    def forward_backward(self, batch: dict) -> dict:
        images, labels = self.parse_batch_train(batch)
        tuner = self.tuner
        with self.attention_kernels():
            with self.autocast():
                logits = self.head(tuner.student(images))
            loss_ce = F.cross_entropy(logits, labels)
            loss_mask = tuner.mask_loss()
            loss_task = loss_ce + loss_mask
            loss_kl = None
            if tuner.gdr:
                with self.autocast():
                    teacher_logits = self.head(tuner.teacher(images))
                loss_kl = tuner.reference_loss(logits, teacher_logits)
            self.model_zero_grad()
            tuner.set_mask_gradient(loss_task, loss_kl)
        # One host sync per step, after the backward has been queued: the losses are checked
        # for finiteness before the optimiser step, and the log values come from the same copy.
        acc = (logits.detach().argmax(1) == labels).float().mean() * 100.0
        kl = loss_kl.detach() if loss_kl is not None else torch.zeros((), device=loss_ce.device)
        ce, mask, kl, acc = torch.stack(
            [loss_ce.detach(), loss_mask.detach().float(), kl.float(), acc]
        ).tolist()
        if not all(math.isfinite(v) for v in (ce + mask, kl)):
            what = torch.tensor([ce + mask, kl]) if loss_kl is not None else torch.tensor(ce + mask)
            self.detect_anomaly(what, "Loss")
        self.model_update()

        summary = {"loss": ce, "mask_loss": mask, "kl_loss": kl, "acc": acc}
        if self.is_last_batch():
            self.update_lr()
        return summary

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
        self.extra_results["sparsity"] = self.tuner.report_sparsity(self.output_dir)
        self.extra_results["gdr_lambda"] = self.tuner.lam if self.tuner.gdr else None
        self.extra_results["mask_fingerprint"] = self.tuner.fingerprint()

    # ---------------------------------------------------------- checkpoints
    def checkpoint_state(self, name: str) -> dict:
        """Only the binary masks, bit-packed (~3.6 MB for ViT-B/16); no optimiser state."""
        return {"state_dict": self.tuner.packed(self.epoch + 1), "optimizer": None, "scheduler": None}

    def load_checkpoint_state(self, name: str, checkpoint: dict) -> None:
        self.tuner.load_packed(checkpoint["state_dict"])

    def after_train(self) -> None:
        save_run_info(
            self.output_dir,
            {
                "trainer": self.cfg.TRAINER.NAME,
                "dataset": self.cfg.DATASET.NAME,
                "shots": int(self.cfg.DATASET.NUM_SHOTS),
                "seed": int(self.cfg.SEED),
                "backbone": self.tuner.backbone,
                "layers": list(self.tuner.mask_set.layers),
                "gdr": bool(self.tuner.gdr),
                "gdr_lambda": self.tuner.lam if self.tuner.gdr else None,
                "split_fingerprint": getattr(self.dm.dataset, "split_fingerprint", ""),
                "subsample_classes": self.cfg.DATASET.SUBSAMPLE_CLASSES,
                "epoch": int(self.max_epoch),
                "mask_fingerprint": self.tuner.fingerprint(),
            },
        )
        super().after_train()


@TRAINER_REGISTRY.register()
class MaskTuning(RAMT):
    """The official release's trainer name, so its commands keep working."""
