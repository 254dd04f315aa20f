"""Zero-shot CLIP: one hand-crafted prompt per class (or the 7-template ImageNet ensemble)."""

from __future__ import annotations

import torch

from ramt.clip import build_text_classifier, ensemble_templates, get_template, normalize
from ramt.engine.clip_trainer import ClipTrainer
from ramt.registry import TRAINER_REGISTRY


@TRAINER_REGISTRY.register()
class ZeroshotCLIP(ClipTrainer):
    """Evaluation only. Text features are computed once; test features are cached on disk."""

    def templates(self) -> list[str]:
        if self.cfg.TRAINER.ZS.ENSEMBLE:
            return ensemble_templates(self.cfg.DATASET.NAME)
        return [get_template(self.cfg.DATASET.NAME)]

    def build_model(self) -> None:
        self.clip_model = self.load_clip_model().to(self.device)
        templates = self.templates()
        for t in templates:
            print(f"Prompt template: {t!r}")
        self.text_features = build_text_classifier(
            self.clip_model, self.classnames, templates, device=self.device
        )
        self.logit_scale = self.clip_model.logit_scale.exp().item()
        self.image_encoder = self.build_image_encoder(self.clip_model)

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        return self.image_encoder(images)

    def head(self, features: torch.Tensor) -> torch.Tensor:
        return self.logit_scale * normalize(features.float()) @ self.text_features.t()

    @torch.no_grad()
    def model_inference(self, images: torch.Tensor) -> torch.Tensor:
        with self.autocast():
            return self.head(self.encode(images))

    def predict(self, loader, split):
        feats, labels = self.split_features(split, self.encode, self.encoder_id, loader=loader)
        yield from self.predict_from_features(feats, labels, self.head)

    def image_splits(self) -> tuple[str, ...]:
        """Zero-shot reads only the evaluated split: its training images are never decoded."""
        return (self.cfg.TEST.SPLIT,)

    def train(self) -> None:
        raise ValueError("ZeroshotCLIP has nothing to train: run train.py with --eval-only.")


@TRAINER_REGISTRY.register()
class ZeroshotCLIP2(ZeroshotCLIP):
    """Prompt ensembling: the 7 selected ImageNet templates (+ the dataset's own if not ImageNet)."""

    def templates(self) -> list[str]:
        return ensemble_templates(self.cfg.DATASET.NAME)
