"""Classification evaluator: accuracy, error, macro-F1, calibration, per-class results, per-image top-k."""

from __future__ import annotations

import os
from collections import OrderedDict
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


#: Calibration bins (equal width on [0, 1], as torchmetrics' ``n_bins``) and the top-k kept per image.
ECE_BINS = 15
TOPK = 5
WORST_CLASSES = 5


def calibration_summary(confidence: torch.Tensor, correct: torch.Tensor, n_bins: int = ECE_BINS) -> dict:
    """ECE (torchmetrics, l1, ``n_bins`` equal-width bins, in %) and the per-bin histogram."""
    # imported here: torchmetrics costs ~1-2 s of start-up and only the final evaluation needs it
    from torchmetrics.functional.classification import binary_calibration_error

    conf = confidence.double()
    ok = correct.to(torch.int64)
    ece = float(binary_calibration_error(conf, ok, n_bins=n_bins, norm="l1", validate_args=False))
    edges = torch.linspace(0, 1, n_bins + 1, dtype=conf.dtype)
    # torchmetrics' bins are [lo, hi); a confidence of exactly 1.0 is shown in the last bin here
    idx = (torch.bucketize(conf, edges, right=True) - 1).clamp(0, n_bins - 1)
    count = torch.bincount(idx, minlength=n_bins)
    conf_sum = torch.zeros(n_bins, dtype=conf.dtype).scatter_add_(0, idx, conf)
    acc_sum = torch.zeros(n_bins, dtype=conf.dtype).scatter_add_(0, idx, ok.to(conf.dtype))
    denom = count.clamp(min=1).to(conf.dtype)
    return {
        "ece": 100.0 * ece,
        "n_bins": n_bins,
        "bins": {
            "count": count.tolist(),
            "confidence": [round(v, 6) for v in (conf_sum / denom).tolist()],
            "accuracy": [round(v, 6) for v in (acc_sum / denom).tolist()],
        },
    }


def per_class_summary(
    label: np.ndarray, pred: np.ndarray, num_classes: int, lab2cname: dict, worst: int = WORST_CLASSES
) -> dict:
    """Per-class accuracy (%) and count, and the ``worst`` classes (lowest accuracy, then label)."""
    count = np.bincount(label, minlength=num_classes)
    hits = np.bincount(label[label == pred], minlength=num_classes)
    acc = np.where(count > 0, 100.0 * hits / np.maximum(count, 1), np.nan)
    present = [c for c in range(num_classes) if count[c] > 0]
    order = sorted(present, key=lambda c: (acc[c], c))[:worst]
    return {
        "accuracy": [None if np.isnan(a) else round(float(a), 4) for a in acc],
        "count": count.tolist(),
        "worst": [
            {"label": int(c), "name": str(lab2cname.get(c, "")), "accuracy": round(float(acc[c]), 4)}
            for c in order
        ],
    }


@EVALUATOR_REGISTRY.register()
class Classification:
    """Accuracy, error, macro-F1; keeps top-k predictions, NLL and calibration of the last evaluation.

    ``process`` keeps each batch's labels, top-k ids and log-probabilities on the device (one top-k
    per batch, no host sync); ``evaluate`` moves them once. After it, ``predictions`` (numpy arrays
    in the order the images were processed) and ``details`` (calibration, NLL, per-class) describe
    the evaluation; the engine writes them to predictions.npz and results.json.
    """

    def __init__(self, cfg, lab2cname: Optional[dict] = None) -> None:
        self.cfg = cfg
        self._lab2cname = lab2cname or {}
        self._per_class = cfg.TEST.PER_CLASS_RESULT
        self.reset()

    def reset(self) -> None:
        self._labels: list[torch.Tensor] = []
        self._preds: list[torch.Tensor] = []
        self._top_ids: list[torch.Tensor] = []
        self._top_logp: list[torch.Tensor] = []
        self._nll_sum: Optional[torch.Tensor] = None
        self._num_classes = 0
        self.predictions: Optional[dict[str, np.ndarray]] = None
        self.details: dict = {}

    def process(self, output: torch.Tensor, gt: torch.Tensor) -> None:
        logp = torch.log_softmax(output.float(), dim=1)
        top_logp, top_ids = logp.topk(min(TOPK, logp.shape[1]), dim=1)
        nll = -logp.gather(1, gt.view(-1, 1).long()).sum()
        self._nll_sum = nll if self._nll_sum is None else self._nll_sum + nll
        self._num_classes = max(self._num_classes, int(logp.shape[1]))
        self._labels.append(gt)
        self._preds.append(output.argmax(1))  # argmax, not top-k: the same tie rule as before
        self._top_ids.append(top_ids)
        self._top_logp.append(top_logp)

    def _gather(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float]:
        """Labels, predictions, top-k ids, top-k probabilities and the NLL sum, moved to the host once."""
        if not self._labels:
            k = min(TOPK, max(self._num_classes, 1))
            return (
                np.zeros(0, np.int64),
                np.zeros(0, np.int64),
                np.zeros((0, k), np.int64),
                np.zeros((0, k), np.float32),
                0.0,
            )
        labels = torch.cat(self._labels).long()
        preds = torch.cat(self._preds).long()
        ids = torch.cat(self._top_ids)
        logp = torch.cat(self._top_logp)
        packed = torch.cat(
            [labels.view(-1, 1).to(logp.dtype), preds.view(-1, 1).to(logp.dtype), ids.to(logp.dtype), logp], 1
        ).cpu()
        k = ids.shape[1]
        nll = float(self._nll_sum.item())
        return (
            packed[:, 0].long().numpy(),
            packed[:, 1].long().numpy(),
            packed[:, 2 : 2 + k].long().numpy(),
            packed[:, 2 + k :].exp().numpy(),
            nll,
        )

    def evaluate(self) -> OrderedDict[str, float]:
        y_true, y_pred, top_ids, top_probs, nll_sum = self._gather()
        total = int(y_true.shape[0])
        correct = int(np.sum(y_true == y_pred))
        results = OrderedDict()
        acc = 100.0 * correct / max(total, 1)
        f1 = 100.0 * macro_f1(y_true, y_pred)
        results["accuracy"] = acc
        results["error_rate"] = 100.0 - acc
        results["macro_f1"] = f1
        print(
            f"{TEST_LOG_SIGNAL}\n"
            f"* total: {total:,}\n"
            f"* correct: {correct:,}\n"
            f"* accuracy: {acc:.2f}%\n"
            f"* error: {100.0 - acc:.2f}%\n"
            f"* macro_f1: {f1:.2f}%"
        )
        if self._per_class:
            print("=> per-class result")
            accs = []
            for label in np.unique(y_true).tolist():
                hit = y_pred[y_true == label] == label
                c_acc = 100.0 * float(hit.mean())
                accs.append(c_acc)
                name = self._lab2cname.get(label, "")
                print(
                    f"* class: {label} ({name})\ttotal: {hit.size:,}\tcorrect: {int(hit.sum()):,}\tacc: {c_acc:.2f}%"
                )
            mean_acc = float(np.mean(accs))
            print(f"* average: {mean_acc:.2f}%")
            results["perclass_accuracy"] = mean_acc
        if self.cfg.TEST.COMPUTE_CMAT:
            n = int(max(y_true.max(initial=0), y_pred.max(initial=0))) + 1
            cmat = np.zeros((n, n), dtype=np.float64)
            np.add.at(cmat, (y_true, y_pred), 1)
            cmat = cmat / np.maximum(cmat.sum(1, keepdims=True), 1)
            path = os.path.join(self.cfg.OUTPUT_DIR, "cmat.pt")
            torch.save(torch.from_numpy(cmat), path)
            print(f"Confusion matrix is saved to {path}")
        if total:
            num_classes = max(self._num_classes, len(self._lab2cname))
            calibration = calibration_summary(
                torch.from_numpy(top_probs[:, 0]), torch.from_numpy(y_true == y_pred)
            )
            calibration["nll"] = nll_sum / total
            self.details = {
                "calibration": calibration,
                "per_class": per_class_summary(y_true, y_pred, num_classes, self._lab2cname),
            }
            self.predictions = {"label": y_true, "pred": y_pred, "topk_ids": top_ids, "topk_probs": top_probs}
        return results


def build_evaluator(cfg, lab2cname: Optional[dict] = None):
    if cfg.VERBOSE:
        print(f"Loading evaluator: {cfg.TEST.EVALUATOR}")
    return EVALUATOR_REGISTRY.get(cfg.TEST.EVALUATOR)(cfg, lab2cname=lab2cname)
