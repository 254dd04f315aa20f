"""The flat fp32 mask store, the straight-through binariser and the masked forward.

One :class:`MaskSet` holds every mask of an image encoder in a single fp32 parameter
``flat``; per-tensor masks are views into it. The encoder itself is never modified
during training: :func:`masked_forward` runs it through ``torch.func.functional_call``
with the effective weights ``W * 1[M > tau]`` substituted, so the unmasked teacher is
simply ``visual(x)`` on the same module.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Sequence
from typing import Optional

import numpy as np
import torch
import torch.nn as nn
from torch.func import functional_call

from .bits import pack_bits
from .selection import normalize_layers, select_mask_targets

__all__ = [
    "MaskSet",
    "MaskedWeight",
    "masked_weights",
    "masked_forward",
    "fold_masks_",
    "folded_copy",
    "mask_fingerprint",
]

VALID_INITS = ("1s", "uniform")


class MaskedWeight(torch.autograd.Function):
    """``W_eff = W * 1[M > tau]`` with the straight-through gradient ``dL/dM = dL/dW_eff * W``.

    The mask gradient is handed through unchanged by the binariser, so a switched-off entry
    still receives gradient. The weight is normally frozen; if it does require grad it gets
    ``dL/dW_eff * B``. Only the tensors needed for the requested gradients are saved.
    """

    @staticmethod
    def forward(ctx, weight: torch.Tensor, mask: torch.Tensor, tau: float) -> torch.Tensor:
        binary = mask > tau
        need_w, need_m = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        ctx.mask_dtype = mask.dtype
        ctx.save_for_backward(weight if need_m else None, binary if need_w else None)
        return weight * binary  # bool promotes to weight's dtype: one kernel

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        weight, binary = ctx.saved_tensors
        grad_w = grad_m = None
        if ctx.needs_input_grad[1]:
            grad_m = (grad_out * weight.to(grad_out.dtype)).to(ctx.mask_dtype)
        if ctx.needs_input_grad[0]:
            grad_w = grad_out * binary
        return grad_w, grad_m, None


class MaskSet(nn.Module):
    """All masks of one image encoder in one flat fp32 parameter ``flat``.

    Metadata (plain attributes): ``names`` (parameter names relative to the encoder),
    ``shapes``, ``numels``, ``offsets``, ``layers`` (canonical tokens), ``threshold`` (tau),
    ``scale``, ``init``. ``state_dict()`` holds ``flat`` only (the real-valued masks, for resume).
    """

    def __init__(
        self,
        names: Sequence[str],
        shapes: Sequence[Sequence[int]],
        layers: Sequence[str] = ("attn", "conv1"),
        init: str = "1s",
        scale: float = 1e-2,
        threshold: float = 5e-3,
        generator: Optional[torch.Generator] = None,
        device=None,
    ):
        super().__init__()
        if init not in VALID_INITS:
            raise ValueError(f"Unknown MASK.INIT {init!r}; valid values are {VALID_INITS}.")
        if len(names) != len(shapes) or not names:
            raise ValueError("MaskSet needs one shape per name and at least one tensor.")
        self.names = list(names)
        self.shapes = [tuple(int(s) for s in shape) for shape in shapes]
        self.numels = [int(np.prod(s, dtype=np.int64)) for s in self.shapes]
        self.offsets = [int(o) for o in np.concatenate([[0], np.cumsum(self.numels)[:-1]])]
        self.layers = normalize_layers(layers)
        self.init = init
        self.scale = float(scale)
        self.threshold = float(threshold)
        total = sum(self.numels)
        if init == "1s":
            data = torch.full((total,), self.scale, dtype=torch.float32, device=device)
        else:  # uniform U(0, scale), drawn on the CPU so the result does not depend on the device
            data = torch.rand(total, generator=generator, dtype=torch.float32).mul_(self.scale)
            data = data.to(device) if device is not None else data
        self.flat = nn.Parameter(data)
        self._index = {n: i for i, n in enumerate(self.names)}

    @classmethod
    def from_module(
        cls,
        visual: nn.Module,
        layers: Sequence[str] = ("attn", "conv1"),
        init: str = "1s",
        scale: float = 1e-2,
        threshold: float = 5e-3,
        generator: Optional[torch.Generator] = None,
        device=None,
    ) -> MaskSet:
        """Masks for ``visual`` per the layer tokens; ``flat`` lives on the encoder's device
        unless ``device`` is given."""
        names = select_mask_targets(visual, layers)
        params = dict(visual.named_parameters())
        if device is None:
            device = params[names[0]].device
        shapes = [params[n].shape for n in names]
        return cls(names, shapes, layers, init, scale, threshold, generator, device)

    # ------------------------------------------------------------------ access
    @property
    def num_entries(self) -> int:
        return int(self.flat.numel())

    def __len__(self) -> int:
        return len(self.names)

    def extra_repr(self) -> str:
        return (
            f"tensors={len(self.names)}, entries={self.num_entries:,}, layers={self.layers}, "
            f"init={self.init!r}, scale={self.scale}, threshold={self.threshold}"
        )

    def segments(self, flat: torch.Tensor) -> list[torch.Tensor]:
        """Split a flat tensor laid out like ``self.flat`` into per-tensor shaped views."""
        return [seg.view(shape) for seg, shape in zip(flat.split(self.numels), self.shapes)]

    def views(self) -> dict[str, torch.Tensor]:
        """Per-tensor masks as views into ``flat`` (differentiable, they share its storage)."""
        return dict(zip(self.names, self.segments(self.flat)))

    def view(self, name: str) -> torch.Tensor:
        i = self._index[name]
        return self.flat[self.offsets[i] : self.offsets[i] + self.numels[i]].view(self.shapes[i])

    def binary_flat(self) -> torch.Tensor:
        """``flat > tau`` as a bool tensor (no gradient)."""
        return self.flat.detach() > self.threshold

    def binary(self) -> dict[str, torch.Tensor]:
        """Per-tensor binary masks ``M > tau`` (bool)."""
        return dict(zip(self.names, self.segments(self.binary_flat())))

    def norm_loss(self) -> torch.Tensor:
        """``sum_t ||vec(M_t)||_2`` (plain, unsquared L2 norm per tensor), in fp32.

        Computed over the flat buffer: one square, per-segment sums, one sqrt. The gradient
        of an all-zero tensor's norm is taken as 0 (instead of NaN).
        """
        sq = self.flat.float().square()
        sums = torch.stack([seg.sum() for seg in sq.split(self.numels)])
        pos = sums > 0
        safe = torch.where(pos, sums, torch.ones_like(sums))
        return torch.where(pos, safe.sqrt(), torch.zeros_like(sums)).sum()

    @torch.no_grad()
    def set_binary_(self, binary_flat: torch.Tensor) -> None:
        """``M := B`` as 0.0/1.0 from a flat bool tensor (1 > tau >= 0 restores ``B`` exactly)."""
        if binary_flat.numel() != self.num_entries:
            raise ValueError(f"Expected {self.num_entries} mask entries, got {binary_flat.numel()}.")
        self.flat.copy_(binary_flat.reshape(-1).to(device=self.flat.device, dtype=self.flat.dtype))


# ---------------------------------------------------------------------- forward
def masked_weights(visual: nn.Module, mask_set: MaskSet) -> dict[str, torch.Tensor]:
    """Effective weights ``W * 1[M > tau]`` (straight-through) for every masked tensor.

    Each is computed in its weight's dtype; the masks stay fp32.
    """
    views = mask_set.views()
    tau = mask_set.threshold
    return {name: MaskedWeight.apply(visual.get_parameter(name), views[name], tau) for name in mask_set.names}


def masked_forward(visual: nn.Module, mask_set: MaskSet, *args, **kwargs):
    """Run ``visual(*args, **kwargs)`` with the masked weights substituted.

    The module's own parameters are left untouched (``torch.func.functional_call``), so the
    unmasked teacher is ``visual(x)``. Gradients reach ``mask_set.flat`` through the STE.
    Works under autocast (the effective weight is built in the weight's dtype and autocast
    casts it inside the matmuls, as it would the plain weight).
    """
    return functional_call(visual, masked_weights(visual, mask_set), args, kwargs, strict=False)


@torch.no_grad()
def fold_masks_(visual: nn.Module, mask_set: MaskSet) -> nn.Module:
    """In place: multiply each masked weight by its binary mask. Returns ``visual``.

    The result is an ordinary encoder whose plain forward equals the masked forward.
    """
    for name, b in mask_set.binary().items():
        w = visual.get_parameter(name)
        if w.shape != b.shape:
            raise ValueError(f"Mask {name} has shape {tuple(b.shape)}, weight has {tuple(w.shape)}.")
        w.mul_(b.to(device=w.device, dtype=w.dtype))
    return visual


def folded_copy(visual: nn.Module, mask_set: MaskSet) -> nn.Module:
    """A deep copy of ``visual`` with the binary masks folded into its weights."""
    return fold_masks_(copy.deepcopy(visual), mask_set)


def mask_fingerprint(mask_set: MaskSet) -> str:
    """First 16 hex digits of the sha256 over (name, shape, packed bits) of every binary mask.

    The packed bits are the bytes stored in the bit-packed checkpoint, so a mask set restored
    from such a checkpoint has the same fingerprint as the one that was saved.
    """
    h = hashlib.sha256()
    binary = mask_set.binary_flat().cpu()
    for name, shape, seg in zip(mask_set.names, mask_set.shapes, binary.split(mask_set.numels)):
        h.update(f"{name}:{shape};".encode())
        h.update(pack_bits(seg).tobytes())
    return h.hexdigest()[:16]
