"""Linear-probe CLIP, as CoOp's ``lpclip/`` (docs/BASELINES.md, "Linear-probe CLIP").

Features of the frozen image encoder (:meth:`ClipTrainer.build_image_encoder`, so the two-stage
R-AMT composition folds its masks in unchanged) on the unaugmented few-shot train and val images,
through the suite's feature cache. scikit-learn's ``LogisticRegression`` (lbfgs, L2, ``max_iter``
1000) is fitted per candidate ``C``; ``C`` is chosen on the few-shot val split with lpclip's coarse
grid and binary refinement, and the classifier fitted at the chosen ``C`` is tested. No epochs:
``train()`` does the fit, then the usual test and ``results.json``.
"""

from __future__ import annotations

from typing import Callable, Optional

import numpy as np
import torch
import torch.nn as nn

from ramt.data.manager import build_data_loader
from ramt.engine.clip_trainer import ClipTrainer
from ramt.registry import TRAINER_REGISTRY

CLASSIFIER_NAME = "classifier"


def search_c(val_accuracy: Callable[[float], float], grid, steps: int) -> tuple[float, dict]:
    """lpclip's search: the best ``C`` of ``grid`` on val, then ``steps`` rounds of its binary refinement.

    Each round compares the left and right ends of the current range (the first range is
    ``[0.1 C_peak, 10 C_peak]``), keeps the better end (the left one on a tie) and halves the range
    in log10 towards it. The end kept in the last round is returned (the peak when ``steps`` is 0).
    """
    grid = [float(c) for c in grid]
    grid_acc = [float(val_accuracy(c)) for c in grid]
    peak = grid[int(np.argmax(grid_acc))]
    left, right = 0.1 * peak, 10.0 * peak
    chosen, rounds = peak, []
    for _ in range(int(steps)):
        acc_left, acc_right = float(val_accuracy(left)), float(val_accuracy(right))
        rounds.append({"left": left, "right": right, "acc_left": acc_left, "acc_right": acc_right})
        if acc_left < acc_right:
            chosen = right
            left, right = 0.5 * (np.log10(right) + np.log10(left)), np.log10(right)
        else:
            chosen = left
            left, right = np.log10(left), 0.5 * (np.log10(right) + np.log10(left))
        left, right = float(np.power(10, left)), float(np.power(10, right))
    return chosen, {"grid": grid, "grid_val_acc": grid_acc, "peak": peak, "rounds": rounds}


def fit_logistic(features: np.ndarray, labels: np.ndarray, c: float, max_iter: int):
    """lpclip's classifier: ``LogisticRegression(solver="lbfgs", max_iter, penalty="l2", C)``."""
    from sklearn.linear_model import LogisticRegression

    # penalty="l2" in lpclip: the default (named explicitly it warns in scikit-learn >= 1.8)
    return LogisticRegression(solver="lbfgs", max_iter=int(max_iter), C=float(c)).fit(features, labels)


def linear_from_sklearn(clf, num_classes: int) -> nn.Linear:
    """An fp64 ``nn.Linear`` whose arg-max equals ``clf.predict`` (two classes: logits ``[0, z]``)."""
    dim = clf.coef_.shape[1]
    weight = np.zeros((num_classes, dim))
    bias = np.full(num_classes, -np.inf)
    classes = np.asarray(clf.classes_, dtype=int)
    if len(classes) == 2 and clf.coef_.shape[0] == 1:
        weight[classes[1]], bias[classes[1]] = clf.coef_[0], clf.intercept_[0]
        bias[classes[0]] = 0.0
    else:
        weight[classes], bias[classes] = clf.coef_, clf.intercept_
    linear = nn.Linear(dim, num_classes).double()
    with torch.no_grad():
        linear.weight.copy_(torch.from_numpy(weight))
        linear.bias.copy_(torch.from_numpy(bias))
    return linear.requires_grad_(False)


@TRAINER_REGISTRY.register()
class LinearProbeCLIP(ClipTrainer):
    """Logistic regression on frozen CLIP image features (CoOp's lpclip)."""

    def build_model(self) -> None:
        clip_model = self.load_clip_model()
        self.image_encoder = self.build_image_encoder(clip_model)
        for p in self.image_encoder.parameters():
            p.requires_grad_(False)
        self.image_encoder.eval().to(self.device)
        del clip_model  # the text tower is not used
        self.feature_dim: Optional[int] = None
        self.classifier: Optional[nn.Linear] = None
        lp = self.cfg.TRAINER.LP
        print(
            f"Linear probe: LogisticRegression(lbfgs, l2, max_iter {lp.MAX_ITER}); C grid {list(lp.C_GRID)}, "
            f"{lp.SEARCH_STEPS} refinement rounds on the few-shot val split"
        )
        self.max_epoch = 0  # no epochs: the fit happens in before_train

    # --------------------------------------------------------------- features
    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """Unnormalised features of the frozen image encoder (lpclip feeds them to sklearn as they are)."""
        with self.attention_kernels():
            return self.image_encoder(images.to(self.device))

    def features(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        """``(features [N, D] fp64, labels [N])`` of a split under the test transform (cached)."""
        loader = None
        if split == "train":
            bs = int(self.cfg.DATALOADER.TEST.BATCH_SIZE)
            loader = build_data_loader(
                self.cfg, self.dm.dataset.train_x, bs, self.dm.tfm_test, is_train=False, shuffle=False
            )
        feats, labels = self.split_features(split, self.encode, self.encoder_id, loader=loader)
        return feats.double().cpu().numpy(), labels.cpu().numpy()

    # ------------------------------------------------------------------ fit
    def fit(self) -> dict:
        """Search C on the few-shot val split, keep the classifier fitted at the chosen C."""
        lp = self.cfg.TRAINER.LP
        x_train, y_train = self.features("train")
        if self.dm.dataset.val:
            x_val, y_val = self.features("val")
        else:
            raise ValueError(
                f"LinearProbeCLIP searches C on the few-shot val split, but dataset {self.cfg.DATASET.NAME} "
                "has no val split. Use a dataset config with a val split."
            )
        fits: dict[float, object] = {}

        def val_accuracy(c: float) -> float:
            if c not in fits:
                fits[c] = fit_logistic(x_train, y_train, c, lp.MAX_ITER)
            pred = fits[c].predict(x_val)
            acc = float(np.sum(pred == y_val) / len(y_val))
            print(f"C {c:.6g}: val accuracy {100 * acc:.2f}%")
            return acc

        chosen, record = search_c(val_accuracy, lp.C_GRID, lp.SEARCH_STEPS)
        print(f"Chosen C: {chosen:.6g} (few-shot val split, {len(y_val)} images)")
        self.feature_dim = x_train.shape[1]
        self.set_classifier(linear_from_sklearn(fits[chosen], self.num_classes))
        return dict(record, C=chosen, train_size=int(len(y_train)), val_size=int(len(y_val)))

    def set_classifier(self, linear: nn.Linear) -> None:
        self.classifier = linear.to(self.device)
        if CLASSIFIER_NAME not in self._models:
            self.register_model(CLASSIFIER_NAME, self.classifier)
        else:
            self._models[CLASSIFIER_NAME] = self.classifier

    def before_train(self) -> None:
        super().before_train()
        self.lp_record = self.fit()
        self.extra_results["lp"] = self.lp_record
        self.extra_results["lp_C"] = self.lp_record["C"]
        self.save_model(0, self.output_dir)

    # ----------------------------------------------------------------- test
    def head(self, features: torch.Tensor) -> torch.Tensor:
        if self.classifier is None:
            raise ValueError("LinearProbeCLIP has no fitted classifier: train it, or pass --model-dir.")
        return self.classifier(features.double())

    @torch.no_grad()
    def model_inference(self, images: torch.Tensor) -> torch.Tensor:
        with self.autocast():
            return self.head(self.encode(images).float())

    def predict(self, loader, split):
        feats, labels = self.split_features(split, self.encode, self.encoder_id, loader=loader)
        yield from self.predict_from_features(feats, labels, self.head)

    def load_checkpoint_state(self, name: str, checkpoint: dict) -> None:
        if name != CLASSIFIER_NAME:
            return super().load_checkpoint_state(name, checkpoint)
        state = checkpoint["state_dict"]
        weight = state["weight"]
        if weight.shape[0] != self.num_classes:
            raise ValueError(
                f"The saved linear probe has {weight.shape[0]} classes but this dataset has {self.num_classes}; "
                "a linear probe cannot move to another class set."
            )
        linear = nn.Linear(weight.shape[1], weight.shape[0]).double().requires_grad_(False)
        linear.load_state_dict(state)
        self.set_classifier(linear)

    def load_model(self, directory, epoch=None) -> None:
        if CLASSIFIER_NAME not in self._models:  # eval-only: the checkpoint provides the classifier
            self.register_model(CLASSIFIER_NAME, nn.Linear(1, self.num_classes).double())
        super().load_model(directory, epoch)
