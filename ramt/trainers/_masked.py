"""R-AMT as a component a host trainer composes: "host method + masks".

Two mixins, each the one home of its piece:

- :class:`MaskedTrainer` trains masks with the host (R-AMT alone, CoOp + R-AMT's joint mode): it
  builds the :class:`~ramt.mask_tuning.MaskTuner`, registers the masks as ``shared`` with their
  optimiser, runs the joint mask step (task CE + mask-norm, GDR against the host's zero-shot
  logits, one host sync), saves and loads the bit-packed masks, reports the sparsity and writes
  ``mask_run.json``.
- :class:`SourceMasks` is the two-stage hook: the host's frozen image encoder
  (:meth:`~ramt.engine.clip_trainer.ClipTrainer.build_image_encoder`) gets the masks of a finished
  R-AMT run folded in (``MASK.SOURCE_RUN``), and the run's identity is reported with the result.

A two-stage combination is derived from its host by :func:`ramt.trainers.compose.combination_trainer`
(``<Host>RAMT = type(..., (SourceMasks, Host), {})``, created when its name is looked up); a joint
mode adds ``MaskedTrainer`` in its own class (CoOp + R-AMT). See docs/ARCHITECTURE.md ("Add a host method + R-AMT").
"""

from __future__ import annotations

import math
from typing import Callable, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from ramt.engine.optim import build_lr_scheduler, build_optimizer
from ramt.engine.precision import fuse_optimizer, use_compile
from ramt.mask_source import folded_source_encoder
from ramt.mask_tuning import MASK_MODEL_NAME, MaskTuner, save_run_info

__all__ = ["COMBO_MODES", "MaskedTrainer", "SourceMasks", "check_combo_mode"]

COMBO_MODES = ("two_stage", "joint")

Logits = Callable[[torch.Tensor], torch.Tensor]


def check_combo_mode(cfg, allowed=COMBO_MODES) -> str:
    mode = cfg.COMBO.MODE
    if mode not in allowed:
        raise ValueError(f"COMBO.MODE must be one of {allowed} for {cfg.TRAINER.NAME}, got {mode!r}.")
    return mode


class MaskedTrainer:
    """Mixin: R-AMT's masks trained inside a host trainer (a :class:`ClipTrainer` subclass).

    ``mask_tuner_class`` is the tuner built by :meth:`build_mask_tuner`; the benchmarks swap in
    the official code's step (``benchmarks/reference.py``) through it.
    """

    mask_tuner_class: type[MaskTuner] = MaskTuner
    tuner: MaskTuner

    # ---------------------------------------------------------------- build
    def build_mask_tuner(self, clip_model: nn.Module, compile: bool = False) -> MaskTuner:
        """Masks over ``clip_model.visual`` (printed); ``compile`` honours ``SPEED.COMPILE``."""
        self.tuner = self.mask_tuner_class(self.cfg, clip_model, self.device)
        self.tuner.describe()
        if compile and use_compile(self.cfg, self.device):
            mode = self.cfg.SPEED.COMPILE_MODE
            print(f"torch.compile: student and teacher forwards (mode {mode or 'default'})")
            self.tuner.compile(**({"mode": mode} if mode else {}))
        return self.tuner

    def register_masks(self, optim_cfg) -> None:
        """Register the mask store as ``shared`` with the optimiser and schedule of ``optim_cfg``."""
        optim = build_optimizer([self.tuner.mask_set.flat], optim_cfg)
        optim = fuse_optimizer(optim, self.cfg, self.device)
        sched = build_lr_scheduler(optim, optim_cfg)
        self.register_model(MASK_MODEL_NAME, self.tuner.mask_set, optim, sched)

    # ----------------------------------------------------------------- step
    def mask_step(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        student_logits: Logits,
        teacher_logits: Logits,
        host_gradients: Optional[Callable[[torch.Tensor], None]] = None,
    ) -> dict:
        """One joint step: CE + mask-norm on the masked logits, GDR against the zero-shot logits.

        ``student_logits(images)`` runs the host's head on the masked encoder (autograd reaches the
        masks); ``teacher_logits(images)`` the same head on the unmasked encoder. ``host_gradients``
        puts the host's own gradients (of the plain CE) in place before the mask gradient. One
        host sync, after the backward is queued: non-finite losses stop the run before any update.
        """
        tuner = self.tuner
        with self.attention_kernels():
            logits = student_logits(images)
            loss_ce = F.cross_entropy(logits, labels)
            loss_mask = tuner.mask_loss()
            loss_task = loss_ce + loss_mask
            loss_kl = None
            if tuner.gdr:
                loss_kl = tuner.reference_loss(logits, teacher_logits(images))
            self.model_zero_grad()
            if host_gradients is not None:
                host_gradients(loss_ce)
            tuner.set_mask_gradient(loss_task, loss_kl)
        acc = (logits.detach().argmax(1) == labels).float().mean() * 100.0
        kl = loss_kl.detach() if loss_kl is not None else torch.zeros((), device=loss_ce.device)
        ce, mask, kl, acc = torch.stack(
            [loss_ce.detach().float(), loss_mask.detach().float(), kl.float(), acc]
        ).tolist()
        if not all(math.isfinite(v) for v in (ce + mask, kl)):
            what = torch.tensor([ce + mask, kl]) if loss_kl is not None else torch.tensor(ce + mask)
            self.detect_anomaly(what, "Loss")
        self.model_update()
        if self.is_last_batch():
            self.update_lr()
        return {"loss": ce, "mask_loss": mask, "kl_loss": kl, "acc": acc}

    # ---------------------------------------------------------- test/report
    def report_masks(self) -> None:
        """The ``=> mask sparsity`` block, ``sparsity.json`` and the mask identity in results.json."""
        self.extra_results["sparsity"] = self.tuner.report_sparsity(self.output_dir)
        self.extra_results["gdr_lambda"] = self.tuner.lam if self.tuner.gdr else None
        self.extra_results["mask_fingerprint"] = self.tuner.fingerprint()

    def save_mask_run_info(self) -> None:
        """``mask_run.json``: what a two-stage combination checks before reusing these masks."""
        cfg, tuner = self.cfg, self.tuner
        save_run_info(
            self.output_dir,
            {
                "trainer": cfg.TRAINER.NAME,
                "dataset": cfg.DATASET.NAME,
                "shots": int(cfg.DATASET.NUM_SHOTS),
                "seed": int(cfg.SEED),
                "backbone": tuner.backbone,
                "layers": list(tuner.mask_set.layers),
                "gdr": bool(tuner.gdr),
                "gdr_lambda": tuner.lam if tuner.gdr else None,
                "split_fingerprint": getattr(self.dm.dataset, "split_fingerprint", ""),
                "subsample_classes": cfg.DATASET.SUBSAMPLE_CLASSES,
                "epoch": int(self.max_epoch),
                "mask_fingerprint": tuner.fingerprint(),
            },
        )

    # ---------------------------------------------------------- checkpoints
    def checkpoint_state(self, name: str) -> dict:
        """The masks are saved bit-packed (~3.6 MB for ViT-B/16), without optimiser state."""
        if name == MASK_MODEL_NAME:
            return {"state_dict": self.tuner.packed(self.epoch + 1), "optimizer": None, "scheduler": None}
        return super().checkpoint_state(name)

    def load_checkpoint_state(self, name: str, checkpoint: dict) -> None:
        if name == MASK_MODEL_NAME:
            self.tuner.load_packed(checkpoint["state_dict"])
            return
        super().load_checkpoint_state(name, checkpoint)


class SourceMasks:
    """Mixin: the two-stage combination's frozen encoder, with a finished R-AMT run's masks folded in.

    ``combo_modes`` lists the ``COMBO.MODE`` values the combination accepts.
    """

    combo_modes: tuple[str, ...] = ("two_stage",)
    mask_info: dict

    def check_cfg(self, cfg) -> None:
        super().check_cfg(cfg)
        self.combo_mode = check_combo_mode(cfg, self.combo_modes)

    def build_image_encoder(self, clip_model: nn.Module) -> nn.Module:
        visual, self.mask_info = folded_source_encoder(self.cfg, clip_model, self.dm.dataset)
        self.encoder_id = f"ramt:{self.mask_info['mask_fingerprint']}"
        return visual

    def report_source_masks(self) -> None:
        info = self.mask_info
        self.extra_results["mask_fingerprint"] = info["mask_fingerprint"]
        self.extra_results["mask_run"] = info["run_dir"]
        self.extra_results["combo_mode"] = "two_stage"
        print(f"Masks from {info['run_dir']} (fingerprint {info['mask_fingerprint']})")

    def report_after_test(self, split: str) -> None:
        self.report_source_masks()
        super().report_after_test(split)
