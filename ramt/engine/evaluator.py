"""Classification evaluator: accuracy, error, macro-F1, optional per-class and confusion matrix."""

from __future__ import annotations

import os
from collections import OrderedDict, defaultdict
from typing import Optional

import numpy as np
import torch

from ramt.registry import EVALUATOR_REGISTRY
from ramt.utils.logformat import TEST_LOG_SIGNAL


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Macro F1 (in [0, 1]) over the labels present in ``y_true`` only."""
    labels = np.unique(y_true)
    scores = []
    for c in labels:
        tp = np.sum((y_pred == c) & (y_true == c))
        fp = np.sum((y_pred == c) & (y_true != c))
        fn = np.sum((y_pred != c) & (y_true == c))
        denom = 2 * tp + fp + fn
        scores.append(0.0 if denom == 0 else 2 * tp / denom)
    return float(np.mean(scores)) if scores else 0.0


@EVALUATOR_REGISTRY.register()
class Classification:
    def __init__(self, cfg, lab2cname: Optional[dict] = None) -> None:
        self.cfg = cfg
        self._lab2cname = lab2cname or {}
        self._per_class = cfg.TEST.PER_CLASS_RESULT
        self.reset()

    def reset(self) -> None:
        self._correct = 0
        self._total = 0
        self._y_true: list[int] = []
        self._y_pred: list[int] = []
        self._per_class_res = defaultdict(list) if self._per_class else None

    def process(self, output: torch.Tensor, gt: torch.Tensor) -> None:
        pred = output.argmax(1)
        matches = pred.eq(gt).int()
        self._correct += int(matches.sum().item())
        self._total += gt.shape[0]
        self._y_true.extend(gt.tolist())
        self._y_pred.extend(pred.tolist())
        if self._per_class_res is not None:
            for label, m in zip(gt.tolist(), matches.tolist()):
                self._per_class_res[label].append(m)

    def evaluate(self) -> OrderedDict[str, float]:
        results = OrderedDict()
        acc = 100.0 * self._correct / max(self._total, 1)
        f1 = 100.0 * macro_f1(np.asarray(self._y_true), np.asarray(self._y_pred))
        results["accuracy"] = acc
        results["error_rate"] = 100.0 - acc
        results["macro_f1"] = f1
        print(
            f"{TEST_LOG_SIGNAL}\n"
            f"* total: {self._total:,}\n"
            f"* correct: {self._correct:,}\n"
            f"* accuracy: {acc:.2f}%\n"
            f"* error: {100.0 - acc:.2f}%\n"
            f"* macro_f1: {f1:.2f}%"
        )
        if self._per_class_res is not None:
            print("=> per-class result")
            accs = []
            for label in sorted(self._per_class_res):
                res = self._per_class_res[label]
                c_acc = 100.0 * sum(res) / len(res)
                accs.append(c_acc)
                name = self._lab2cname.get(label, "")
                print(
                    f"* class: {label} ({name})\ttotal: {len(res):,}\tcorrect: {sum(res):,}\tacc: {c_acc:.2f}%"
                )
            mean_acc = float(np.mean(accs))
            print(f"* average: {mean_acc:.2f}%")
            results["perclass_accuracy"] = mean_acc
        if self.cfg.TEST.COMPUTE_CMAT:
            n = max(max(self._y_true, default=0), max(self._y_pred, default=0)) + 1
            cmat = np.zeros((n, n), dtype=np.float64)
            for t, p in zip(self._y_true, self._y_pred):
                cmat[t, p] += 1
            cmat = cmat / np.maximum(cmat.sum(1, keepdims=True), 1)
            path = os.path.join(self.cfg.OUTPUT_DIR, "cmat.pt")
            torch.save(torch.from_numpy(cmat), path)
            print(f"Confusion matrix is saved to {path}")
        return results


def build_evaluator(cfg, lab2cname: Optional[dict] = None):
    if cfg.VERBOSE:
        print(f"Loading evaluator: {cfg.TEST.EVALUATOR}")
    return EVALUATOR_REGISTRY.get(cfg.TEST.EVALUATOR)(cfg, lab2cname=lab2cname)
