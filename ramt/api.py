"""R-AMT as a library: binary masks on any open_clip ViT, for your own training loop.

The stable entry point is :func:`attach_masks`; everything it returns is built on the suite's
own mask mechanism (:class:`ramt.masks.MaskSet`, :func:`ramt.masks.masked_forward`) and GDR
(:func:`ramt.gdr.gdr_mask_gradient`), so a custom loop computes exactly what the ``RAMT`` trainer
computes. One R-AMT step (see ``examples/custom_loop.py`` and ``docs/API.md``)::

    from ramt.api import attach_masks, soft_target_ce

    masks = attach_masks(model, layers=("attn", "conv1"))     # model: an open_clip CLIP (frozen)
    opt = torch.optim.Adam(masks.parameters(), lr=2e-4)
    for images, labels in loader:
        logits = head(masks.encode_image(images))              # masked image encoder (student)
        with torch.no_grad():
            logits0 = head(masks.encode_image_unmasked(images))  # zero-shot CLIP (teacher)
        loss = F.cross_entropy(logits, labels) + 1e-4 * masks.norm_loss()
        opt.zero_grad()
        masks.backward(loss, reference=soft_target_ce(logits, logits0), lam=1.0)  # GDR-filtered
        opt.step()
    tuned = masks.fold()                 # a plain CLIP with the masks folded in
    masks.save("masks.safetensors")      # readable by `python -m ramt.analyze` and MASK.SOURCE_RUN
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any, Optional, Union

import torch
import torch.nn as nn

from ramt.gdr import gdr_mask_gradient, soft_target_ce
from ramt.masks import (
    MaskSet,
    fold_masks_,
    load_packed_masks_,
    mask_fingerprint,
    masked_forward,
    pack_masks,
    read_masks_file,
    write_masks_file,
)

__all__ = ["AttachedMasks", "attach_masks", "soft_target_ce"]


class AttachedMasks:
    """Binary masks over the image encoder of one model (see :func:`attach_masks`).

    The model itself is never modified (until :meth:`fold` with ``inplace=True``): the masked
    forward substitutes ``W * 1[M > tau]`` for each masked weight.
    """

    def __init__(self, model: nn.Module, mask_set: MaskSet) -> None:
        self.model = model
        self.visual = model.visual if hasattr(model, "visual") else model
        self.mask_set = mask_set

    # ------------------------------------------------------------ parameters
    def parameters(self) -> list[nn.Parameter]:
        """The trainable mask parameter (one flat fp32 tensor) for your optimiser."""
        return [self.mask_set.flat]

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The real-valued masks (to resume training)."""
        return self.mask_set.state_dict()

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.mask_set.load_state_dict(state)

    # -------------------------------------------------------------- forwards
    def encode_image(self, images: torch.Tensor, normalize: bool = False) -> torch.Tensor:
        """Image features through the masked encoder; gradients reach the masks (straight-through)."""
        feats = masked_forward(self.visual, self.mask_set, images)
        return nn.functional.normalize(feats, dim=-1) if normalize else feats

    def encode_image_unmasked(self, images: torch.Tensor, normalize: bool = False) -> torch.Tensor:
        """Image features of the original (zero-shot) encoder, without autograd."""
        with torch.no_grad():
            feats = self.visual(images)
        return nn.functional.normalize(feats, dim=-1) if normalize else feats

    # ---------------------------------------------------------------- losses
    def norm_loss(self) -> torch.Tensor:
        """R-AMT's mask-norm term ``sum_t ||M_t||_2`` (multiply by your weight, e.g. 1e-4)."""
        return self.mask_set.norm_loss()

    def mask_gradient(
        self,
        loss: torch.Tensor,
        reference: Optional[torch.Tensor] = None,
        lam: float = 1.0,
        generator: Optional[torch.Generator] = None,
    ) -> torch.Tensor:
        """The gradient of ``loss`` w.r.t. the masks, GDR-filtered against ``reference`` (plain when
        ``reference`` is None, i.e. AMT). ``lam`` is GDR's lambda in [0, 1]."""
        flat = self.mask_set.flat
        if reference is None:
            (grad,) = torch.autograd.grad(loss, flat)
            return grad
        return gdr_mask_gradient(loss, reference, flat, lam, generator=generator)

    def backward(
        self,
        loss: torch.Tensor,
        reference: Optional[torch.Tensor] = None,
        lam: float = 1.0,
        generator: Optional[torch.Generator] = None,
    ) -> None:
        """Put :meth:`mask_gradient` into the masks' ``.grad`` (then call your optimiser's ``step``)."""
        self.mask_set.flat.grad = self.mask_gradient(loss, reference, lam, generator)

    # ---------------------------------------------------------------- report
    def binary(self) -> dict[str, torch.Tensor]:
        """``{parameter name: bool mask}`` (``True`` = weight kept)."""
        return self.mask_set.binary()

    def sparsity(self) -> dict[str, Any]:
        """``{"zeros", "total", "percent"}`` of the masked entries switched off."""
        total = self.mask_set.num_entries
        zeros = total - int(self.mask_set.binary_flat().sum())
        return {"zeros": zeros, "total": total, "percent": 100.0 * zeros / total}

    def fingerprint(self) -> str:
        """The suite's mask fingerprint (as in ``mask_run.json``)."""
        return mask_fingerprint(self.mask_set)

    # --------------------------------------------------------- fold / export
    def fold(self, inplace: bool = False) -> nn.Module:
        """The model with the binary masks multiplied into its weights (a copy unless ``inplace``);
        its plain forward equals :meth:`encode_image`."""
        model = self.model if inplace else copy.deepcopy(self.model)
        visual = model.visual if hasattr(model, "visual") else model
        fold_masks_(visual, self.mask_set)
        return model

    def save(
        self, path: str, backbone: str = "", pretrained: str = "", run_info: Optional[dict] = None
    ) -> str:
        """Write the binary masks as a small safetensors file (``ramt.masks.files`` format)."""
        heads = self.visual.transformer.resblocks[0].attn.num_heads
        head_width = self.visual.conv1.out_channels // heads
        return write_masks_file(
            path,
            pack_masks(self.mask_set, backbone=backbone),
            self.fingerprint(),
            pretrained=pretrained,
            head_width=head_width,
            run_info=run_info,
        )

    def load(self, path: str) -> AttachedMasks:
        """Set the masks to the binary masks of a mask file (names and shapes must match)."""
        payload, _ = read_masks_file(path)
        load_packed_masks_(self.mask_set, payload)
        return self


def attach_masks(
    model: nn.Module,
    layers: Union[str, Sequence[str]] = ("attn", "conv1"),
    threshold: float = 5e-3,
    init_scale: float = 1e-2,
    init: str = "1s",
    generator: Optional[torch.Generator] = None,
) -> AttachedMasks:
    """Attach R-AMT masks to an open_clip model (``CLIP`` or its ``VisionTransformer``).

    ``layers``: tokens from ``attn`` (attention in- and out-projections), ``mlp``, ``conv1``
    (patch embedding), ``all``; R-AMT's default is ``("attn", "conv1")``. The masks start at
    ``init_scale`` (``init="1s"``, every weight kept) or ``U(0, init_scale)`` (``"uniform"``) and
    switch a weight off while ``M <= threshold``. The model's own weights are left untouched; freeze
    them (``requires_grad_(False)``) so only the masks train. Raises
    :class:`ramt.masks.UnsupportedBackboneError` for image towers without OpenAI's parameter names.
    """
    visual = model.visual if hasattr(model, "visual") else model
    mask_set = MaskSet.from_module(
        visual, layers=layers, init=init, scale=init_scale, threshold=threshold, generator=generator
    )
    return AttachedMasks(model, mask_set)
