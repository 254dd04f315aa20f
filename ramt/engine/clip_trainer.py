"""Shared plumbing for CLIP-based trainers: loading CLIP, autocast, cached split features."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Callable, Optional

import torch
import torch.nn as nn

from ramt.clip.backbones import BackboneIdentity, resolve_preprocess
from ramt.clip.features import (
    backbone_identity,
    cached_features,
    compute_features,
    feature_cache_key,
    items_fingerprint,
)
from ramt.clip.shared import load_backbone_shared
from ramt.clip.spec import backbone_spec
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

    #: what the loaded weights are (set by :meth:`load_clip_model`); recorded in results.json
    backbone_identity: Optional[BackboneIdentity] = None

    def load_clip_model(self):
        """Load the frozen CLIP, decide its identity from the weights, and check that the data
        preprocessing (resolved before the model was loaded) is the model's."""
        cfg = self.cfg
        bb = cfg.MODEL.BACKBONE
        name = bb.NAME or bb.PATH
        print(f"Loading CLIP (backbone: {name})")
        # (worker mode: a deep copy of the model this process loaded first, docs/SPEED.md)
        spec = backbone_spec(cfg)  # the run's one backbone decision (weights file found once)
        loaded = load_backbone_shared(
            bb.NAME,
            bb.PATH,
            device="cpu",
            pretrained=bb.PRETRAINED,
            allow_pickle=bb.ALLOW_PICKLE,
            openai_file=spec.weights_file,
        )
        ident = loaded.identity
        print(f"Backbone: {ident.label} (architecture {ident.architecture}, {ident.activation})")
        self.backbone_identity = ident
        self.check_preprocess(loaded.model)
        return loaded.model

    def check_preprocess(self, model) -> None:
        """Refuse a model whose own preprocessing differs from the one the data uses, unless the
        differing ``INPUT.*`` values were set explicitly."""
        dm = getattr(self, "dm", None)
        used = getattr(dm, "preprocess", None)
        if used is None:
            return
        want = resolve_preprocess(self.cfg, model)
        if want != used:
            raise ValueError(
                f"The loaded backbone expects preprocessing '{want.describe()}' ({want.source}), but the data "
                f"was prepared with '{used.describe()}' ({used.source}), decided before the weights were read. "
                "Set the differing INPUT.SIZE / INPUT.INTERPOLATION / INPUT.PIXEL_MEAN / INPUT.PIXEL_STD / "
                "INPUT.RESIZE_MODE explicitly (on the command line or in the yaml)."
            )

    def backbone_record(self) -> dict:
        ident = self.backbone_identity
        if ident is None:
            return super().backbone_record()
        return {"backbone": ident.label, "backbone_identity": ident.as_dict()}

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
            # the pretraining tag of an open_clip model decides its weights too (absent: keys unchanged)
            **(
                {"pretrained": self.cfg.MODEL.BACKBONE.PRETRAINED}
                if self.cfg.MODEL.BACKBONE.PRETRAINED
                else {}
            ),
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
