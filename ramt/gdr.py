"""Gradient Dropout Regularity (GDR) and the KL reference loss (docs/METHOD_SPEC.md section 5).

Pure functions in fp32. The trainer's R-AMT step is::

    z = head(masked_forward(visual, masks, x))           # student
    with torch.no_grad():
        z0 = head(visual(x))                             # unmasked teacher
    loss_a = F.cross_entropy(z, y) + w * masks.norm_loss()
    loss_kl = soft_target_ce(z, z0, T)
    masks.flat.grad = gdr_mask_gradient(loss_a, loss_kl, masks.flat, lam)
    optimizer.step()
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F

__all__ = ["GDR_EPS", "soft_target_ce", "keep_probability", "gradient_dropout", "gdr_mask_gradient"]

GDR_EPS = 1e-8


def soft_target_ce(
    student_logits: torch.Tensor, teacher_logits: torch.Tensor, T: float = 1.0
) -> torch.Tensor:
    """``mean_batch(-sum_c softmax(z0/T)_c * log_softmax(z/T)_c) * T^2`` in fp32.

    The teacher logits are detached. The gradient w.r.t. the student equals that of
    ``KL(p0 || p)`` (they differ by the teacher's entropy, a constant).
    """
    z = student_logits.float() / T
    p0 = F.softmax(teacher_logits.detach().float() / T, dim=-1)
    return -(p0 * F.log_softmax(z, dim=-1)).sum(dim=-1).mean() * (T * T)


def keep_probability(g_a: torch.Tensor, g_b: torch.Tensor, eps: float = GDR_EPS) -> torch.Tensor:
    """``P = 1/2 (1 + sign(g_a) (g_a + g_b) / (|g_a| + |g_b| + eps))``."""
    denom = g_a.abs().add_(g_b.abs()).add_(eps)
    return (g_a + g_b).div_(denom).mul_(torch.sign(g_a)).add_(1.0).mul_(0.5)


def gradient_dropout(
    g_a: torch.Tensor,
    g_b: torch.Tensor,
    lam: float,
    u: Optional[torch.Tensor] = None,
    generator: Optional[torch.Generator] = None,
) -> torch.Tensor:
    """GDR: ``((1 - lam) + lam * 1[P > U]) * g_a`` with ``U ~ U[0, 1)`` per element.

    Kept entries are returned as ``g_a`` exactly, dropped ones as ``(1 - lam) * g_a``.
    ``U`` is drawn with ``torch.rand`` on ``g_a``'s device (from ``generator`` if given)
    unless ``u`` is passed. It is drawn for every ``lam``, including 0, so the RNG stream
    consumed does not depend on ``lam``; ``lam == 0`` then returns ``g_a`` itself.
    """
    lam = float(lam)
    if not 0.0 <= lam <= 1.0:
        raise ValueError(f"GDR lambda must lie in [0, 1], got {lam}.")
    if g_a.shape != g_b.shape:
        raise ValueError(f"g_a and g_b differ in shape: {tuple(g_a.shape)} vs {tuple(g_b.shape)}.")
    if u is None:
        u = torch.rand(g_a.shape, generator=generator, device=g_a.device, dtype=torch.float32)
    if lam == 0.0:
        return g_a
    g_a32 = g_a.float()
    keep = keep_probability(g_a32, g_b.float()) > u
    out = torch.where(keep, g_a32, g_a32 * (1.0 - lam))
    return out.to(g_a.dtype)


def gdr_mask_gradient(
    loss_task: torch.Tensor,
    loss_ref: torch.Tensor,
    flat: torch.Tensor,
    lam: float,
    generator: Optional[torch.Generator] = None,
    check_finite: bool = True,
) -> torch.Tensor:
    """The GDR-filtered gradient of ``loss_task`` w.r.t. ``flat``, with ``loss_ref`` as reference.

    Back-propagates ``loss_ref`` (graph kept) for ``g_b``, then ``loss_task`` for ``g_a``, and
    returns :func:`gradient_dropout` of the two. The result is meant for ``flat.grad``;
    ``loss_ref``'s gradient itself is never applied. With ``check_finite`` (one host sync)
    a non-finite loss raises FloatingPointError.
    """
    if check_finite:
        pair = torch.stack([loss_task.detach().float(), loss_ref.detach().float()])
        if not bool(torch.isfinite(pair).all()):
            raise FloatingPointError(
                f"Non-finite loss: task {pair[0].item()}, reference (KL) {pair[1].item()}."
            )
    (g_b,) = torch.autograd.grad(loss_ref, flat, retain_graph=True)
    (g_a,) = torch.autograd.grad(loss_task, flat)
    return gradient_dropout(g_a, g_b, lam, generator=generator)
