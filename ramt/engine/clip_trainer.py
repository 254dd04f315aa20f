"""Shared plumbing for CLIP-based trainers: loading CLIP, autocast, cached split features."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Callable, Optional

import torch
import torch.nn as nn

from ramt.clip import load_clip
from ramt.clip.features import (
    backbone_identity,
    cached_features,
    compute_features,
    feature_cache_key,
    items_fingerprint,
)
from ramt.config import resolve_cache_dir
from ramt.engine.precision import attention_kernels, autocast, use_bf16
from ramt.engine.trainer import TrainerX


class ClipTrainer(TrainerX):
    """A TrainerX that owns a frozen CLIP model (``self.clip_model``).

    ``build_image_encoder`` is the hook every host builds its frozen image encoder through
    (plain CLIP here; the two-stage R-AMT combinations fold masks in), and ``encoder_id`` names
    that encoder in the feature cache.
    """

    encoder_id = "plain"

    def load_clip_model(self):
        cfg = self.cfg
        name = cfg.MODEL.BACKBONE.NAME or cfg.MODEL.BACKBONE.PATH
        print(f"Loading CLIP (backbone: {name})")
        return load_clip(cfg.MODEL.BACKBONE.NAME, cfg.MODEL.BACKBONE.PATH, device="cpu")

    def build_image_encoder(self, clip_model: nn.Module) -> nn.Module:
        """The frozen image encoder the host runs on."""
        return clip_model.visual

    def autocast(self):
        return autocast(self.cfg, self.device)

    def attention_kernels(self):
        """Unfused (math) attention in reference mode (``SPEED.REFERENCE``); fused otherwise."""
        return attention_kernels(self.cfg)

    # ------------------------------------------------------ feature cache
    def feature_cache_dir(self) -> Optional[str]:
        if not self.cfg.SPEED.FEATURE_CACHE or self.cfg.SPEED.REFERENCE:
            return None
        return os.path.join(resolve_cache_dir(self.cfg), "features")

    def split_items(self, split: str):
        ds = self.dm.dataset
        return {"test": ds.test, "val": ds.val, "train": ds.train_x}[split]

    def split_features(
        self,
        split: str,
        encode: Callable[[torch.Tensor], torch.Tensor],
        encoder_id: str = "plain",
        loader=None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Features of a whole split under the test transform, cached per encoder identity."""
        if loader is None:
            loader = self.test_loader if split == "test" else self.val_loader
        items = self.split_items(split)
        key = feature_cache_key(
            backbone=backbone_identity(self.cfg),
            encoder=encoder_id,
            dataset=self.cfg.DATASET.NAME,
            split=split,
            subsample=self.cfg.DATASET.SUBSAMPLE_CLASSES,
            items=items_fingerprint([d.impath for d in items], [d.label for d in items]),
            transform=repr(self.dm.tfm_test),
            bf16=use_bf16(self.cfg, self.device),
        )

        def compute():
            with self.autocast():
                return compute_features(encode, loader, self.device, desc=f"encode {split}")

        return cached_features(self.feature_cache_dir(), key, compute)

    def predict_from_features(
        self,
        features: torch.Tensor,
        labels: torch.Tensor,
        head: Callable[[torch.Tensor], torch.Tensor],
        chunk: int = 4096,
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for i in range(0, features.shape[0], chunk):
            f = features[i : i + chunk].to(self.device)
            yield head(f).float(), labels[i : i + chunk].to(self.device)
