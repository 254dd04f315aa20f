"""The R-AMT update as one component that any trainer composes.

``MaskTuner`` owns the masks of a frozen CLIP image encoder and knows the three pieces of
the method: the masked (student) and unmasked (teacher) forwards, the task loss with the
mask-norm term, and the mask gradient (GDR-filtered, or plain for AMT). R-AMT alone, the
joint CoOp+R-AMT mode and the two-stage combinations all use it (through the trainer mixins of
``ramt/trainers/_masked.py``); none copies CLIP's code. This is the one GDR implementation; the
official code's slower step (trainable teacher copy, per-tensor dropout loop) is a subclass kept
with the benchmarks (``benchmarks/reference.py``) and checked against this one by the tests.
"""

from __future__ import annotations

import json
import os
from typing import Callable, Optional

import torch
import torch.nn as nn

from ramt.config import mask_layers
from ramt.gdr import gdr_mask_gradient, soft_target_ce
from ramt.masks import (
    MaskSet,
    folded_copy,
    format_sparsity,
    load_packed_masks_,
    mask_fingerprint,
    masked_forward,
    pack_masks,
    sparsity_report,
)
from ramt.policy import gdr_lambda
from ramt.utils.io import atomic_write_json

MASK_MODEL_NAME = "shared"  # the official release's registered name


def count_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


class MaskTuner:
    """Masks over ``clip_model.visual`` plus the R-AMT losses and mask gradient."""

    soft_target_ce = staticmethod(soft_target_ce)  # the KL reference's form (teacher detached)

    def __init__(self, cfg, clip_model: nn.Module, device: torch.device) -> None:
        mcfg = cfg.MASK
        if mcfg.THRESHOLD_FN != "binarizer":
            raise ValueError(
                f"MASK.THRESHOLD_FN '{mcfg.THRESHOLD_FN}' is not supported; the only one is 'binarizer'."
            )
        if mcfg.PREC != "fp32":
            raise ValueError(f"MASK.PREC must be 'fp32' (masks and GDR stay fp32), got '{mcfg.PREC}'.")
        self.cfg = cfg
        self.visual = clip_model.visual
        self.visual_params = count_params(clip_model.visual)
        self.clip_params = count_params(clip_model)
        self.backbone = cfg.MODEL.BACKBONE.NAME or os.path.basename(cfg.MODEL.BACKBONE.PATH)
        self.mask_set = MaskSet.from_module(
            self.visual,
            layers=mask_layers(cfg),
            init=mcfg.INIT,
            scale=mcfg.SCALE,
            threshold=mcfg.THRESHOLD,
            device=device,
        )
        self.gdr = bool(mcfg.GDR)
        self.lam, self.lam_source = gdr_lambda(
            cfg.DATASET.NAME, cfg.DATASET.NUM_SHOTS, cfg.DATASET.SUBSAMPLE_CLASSES, mcfg.GDR_LAMBDA
        )
        self.loss_weight = mcfg.LOSS_WEIGHT if mcfg.MASK_LOSS else 0.0
        self.temperature = mcfg.GDR_T
        self.fuse_alpha = mcfg.FUSE_ALPHA
        self._student_fn: Callable[[torch.Tensor], torch.Tensor] = self._student_forward
        self._teacher_fn: Callable[[torch.Tensor], torch.Tensor] = self._teacher_forward
        self.compiled = False

    def describe(self) -> None:
        ms = self.mask_set
        print(f"Mask layers: {list(ms.layers)} ({len(ms)} tensors, {ms.num_entries:,} mask entries)")
        print(f"Mask init: {ms.init} (scale {ms.scale}), threshold {ms.threshold}")
        if self.gdr:
            print(f"GDR: on, lambda = {self.lam} [{self.lam_source}], T = {self.temperature}")
        else:
            print("GDR: off (AMT)")
        print(f"Mask-norm loss weight: {self.loss_weight}")
        print(
            f"Initial mask sparsity: {self.sparsity()['zeros']:,} zeros of {ms.num_entries:,} masked entries"
        )

    # -------------------------------------------------------------- forwards
    def _student_forward(self, images: torch.Tensor) -> torch.Tensor:
        return masked_forward(self.visual, self.mask_set, images)

    def _teacher_forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.visual(images)

    def student(self, images: torch.Tensor) -> torch.Tensor:
        """Image features through the masked encoder (straight-through gradients to the masks)."""
        return self._student_fn(images)

    def teacher(self, images: torch.Tensor) -> torch.Tensor:
        """Image features of the unmasked zero-shot encoder (frozen, without autograd)."""
        with torch.no_grad():
            return self._teacher_fn(images)

    def compile(self, **compile_kwargs) -> None:
        """Wrap the student and teacher forwards in ``torch.compile`` (fast path only).

        ``compile_kwargs`` go to ``torch.compile`` (e.g. ``backend="aot_eager"`` on CPU in tests,
        ``mode="max-autotune-no-cudagraphs"``). The backward of the student is compiled too
        (AOTAutograd), including the straight-through mask gradient.
        """
        self._student_fn = torch.compile(self._student_forward, **compile_kwargs)
        self._teacher_fn = torch.compile(self._teacher_forward, **compile_kwargs)
        self.compiled = True

    # ---------------------------------------------------------------- losses
    def mask_loss(self) -> torch.Tensor:
        if self.loss_weight == 0:
            return torch.zeros((), device=self.mask_set.flat.device)
        return self.loss_weight * self.mask_set.norm_loss()

    def reference_loss(self, student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
        """The KL reference (soft-target CE towards zero-shot CLIP); only steers GDR."""
        if self.fuse_alpha < 1.0:
            teacher_logits = (
                self.fuse_alpha * teacher_logits + (1 - self.fuse_alpha) * student_logits.detach()
            )
        return self.soft_target_ce(student_logits, teacher_logits, self.temperature)

    def set_mask_gradient(self, loss_task: torch.Tensor, loss_ref: Optional[torch.Tensor]) -> None:
        """Put the mask gradient into ``flat.grad``: GDR-filtered CE gradient, or plain (AMT)."""
        flat = self.mask_set.flat
        if self.gdr and loss_ref is not None:
            flat.grad = gdr_mask_gradient(loss_task, loss_ref, flat, self.lam, check_finite=False)
        else:
            (flat.grad,) = torch.autograd.grad(loss_task, flat)

    # ------------------------------------------------------ export / report
    def folded_visual(self) -> nn.Module:
        """A copy of the encoder with the binary masks folded in (inference = plain CLIP cost)."""
        return folded_copy(self.visual, self.mask_set)

    def packed(self, epoch: int) -> dict:
        return pack_masks(self.mask_set, backbone=self.backbone, epoch=epoch)

    def load_packed(self, payload: dict) -> None:
        load_packed_masks_(self.mask_set, payload)

    def fingerprint(self) -> str:
        return mask_fingerprint(self.mask_set)

    def sparsity(self) -> dict:
        return sparsity_report(self.mask_set, self.visual_params, self.clip_params)

    def report_sparsity(self, output_dir: str) -> dict:
        """Print the ``=> mask sparsity`` block and save ``sparsity.json`` next to the log."""
        rep = self.sparsity()
        print("\n".join(format_sparsity(rep)))
        rep = dict(rep, mask_fingerprint=self.fingerprint(), layers=list(self.mask_set.layers))
        atomic_write_json(os.path.join(output_dir, "sparsity.json"), rep)
        return {k: rep[k] for k in ("zeros", "total", "sparsity", "sparsity_visual", "sparsity_clip")}


def save_run_info(output_dir: str, info: dict) -> None:
    """Record what a combination needs to reuse this run's masks (``mask_run.json``)."""
    atomic_write_json(os.path.join(output_dir, "mask_run.json"), info)


def read_run_info(run_dir: str) -> dict:
    with open(os.path.join(run_dir, "mask_run.json")) as f:
        return json.load(f)
