"""The official R-AMT step's choices, kept out of production code for the benchmarks and tests.

:class:`ReferenceMaskTuner` is :class:`ramt.mask_tuning.MaskTuner` with the official code's costs:
a separate, trainable copy of the unmasked encoder as teacher (autograd on), the soft-target CE
without detaching the teacher (so the KL backward also runs through the copy), ``.backward()``
calls, and a per-tensor Python loop of gradient dropout. The update is the same (same values, the
same uniform draw); ``tests/test_equivalence.py`` checks it against the production tuner.

:func:`reference_trainer` swaps it into any trainer that composes the masks
(:class:`ramt.trainers._masked.MaskedTrainer`); ``benchmarks.harness.make_trainer`` does so when
``SPEED.REFERENCE`` is on. ``SPEED.REFERENCE`` itself (fp32, unfused attention, no fused
optimiser, no feature cache, CoOp's per-batch text features) is honoured by the production code.
"""

from __future__ import annotations

import copy
from typing import Optional

import torch
import torch.nn as nn

from ramt.gdr import GDR_EPS, keep_probability
from ramt.mask_tuning import MaskTuner
from ramt.trainers._masked import MaskedTrainer

__all__ = ["ReferenceMaskTuner", "attached_soft_target_ce", "reference_trainer"]


def attached_soft_target_ce(
    student_logits: torch.Tensor, teacher_logits: torch.Tensor, T: float
) -> torch.Tensor:
    """:func:`ramt.gdr.soft_target_ce` without detaching the teacher (the official code's form)."""
    z = student_logits.float() / T
    p0 = torch.softmax(teacher_logits.float() / T, dim=-1)
    return -(p0 * torch.log_softmax(z, dim=-1)).sum(dim=-1).mean() * (T * T)


class ReferenceMaskTuner(MaskTuner):
    """The production tuner with the official implementation's teacher, KL and dropout loop."""

    reference = True
    soft_target_ce = staticmethod(attached_soft_target_ce)

    def __init__(self, cfg, clip_model: nn.Module, device: torch.device) -> None:
        super().__init__(cfg, clip_model, device)
        self._teacher_copy: Optional[nn.Module] = None  # built on first use

    def teacher(self, images: torch.Tensor) -> torch.Tensor:
        """A trainable copy of the encoder with autograd on (the official code's wasted work)."""
        return self.teacher_copy()(images)

    def teacher_copy(self) -> nn.Module:
        if self._teacher_copy is None:
            self._teacher_copy = copy.deepcopy(self.visual).requires_grad_(True)
        return self._teacher_copy

    def compile(self, **compile_kwargs) -> None:
        raise ValueError("SPEED.COMPILE and SPEED.REFERENCE exclude each other.")

    def set_mask_gradient(self, loss_task: torch.Tensor, loss_ref: Optional[torch.Tensor]) -> None:
        """The official order with ``.backward()``: KL through student *and* teacher, then the task
        loss, then a per-tensor Python loop of gradient dropout (several temporaries per tensor)."""
        flat = self.mask_set.flat
        flat.grad = None
        if not (self.gdr and loss_ref is not None):
            loss_task.backward()
            return
        if self._teacher_copy is not None:
            for p in self._teacher_copy.parameters():
                p.grad = None  # (the official code let them accumulate; same work either way)
        loss_ref.backward(retain_graph=True)
        g_b = flat.grad.detach().clone()
        flat.grad = None
        loss_task.backward()
        g_a = flat.grad.detach()
        # One flat draw, as on the fast path, so both consume the RNG identically.
        u = torch.rand(g_a.shape, device=g_a.device, dtype=torch.float32)
        lam = float(self.lam)
        numels = self.mask_set.numels
        out = []
        for ga, gb, uu in zip(g_a.split(numels), g_b.split(numels), u.split(numels)):
            if lam == 0.0:
                out.append(ga.clone())
                continue
            keep = keep_probability(ga.float(), gb.float(), GDR_EPS) > uu
            out.append(torch.where(keep, ga, ga * (1.0 - lam)))
        flat.grad = torch.cat(out)


def reference_trainer(cls: type) -> type:
    """``cls`` with :class:`ReferenceMaskTuner` as its tuner (``cls`` itself if it has no masks)."""
    if not issubclass(cls, MaskedTrainer) or issubclass(cls.mask_tuner_class, ReferenceMaskTuner):
        return cls
    return type(f"Reference{cls.__name__}", (cls,), {"mask_tuner_class": ReferenceMaskTuner})
