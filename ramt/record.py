"""One run record: ``results.json`` built for the engine and read back for the report (torch-free).

The engine passes plain values (config dict, metrics, extras, backbone record, timing) to
``build_results``; the method label and the selection protocol are decided here, so the trainer,
the report and ``python -m ramt.compare`` name a run the same way. ``read_results`` checks the
format version and returns a typed ``RunRecord``; fields added by format 2 (split fingerprint,
calibration, per-class results, the predictions file) are ``None`` for format-1 runs.

``predictions.npz`` (``PREDICTIONS_FILE``) holds the per-image predictions of the final test
evaluation: see ``write_predictions`` / ``read_predictions`` and docs/STATISTICS.md.
"""

from __future__ import annotations

import datetime
import io
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np

from ramt.methods import method_label
from ramt.selection import selection_protocol
from ramt.utils.io import _atomic_write, atomic_write_json

__all__ = [
    "FORMAT",
    "PREDICTIONS_FILE",
    "PREDICTIONS_FORMAT",
    "READABLE_FORMATS",
    "RESULTS_FILE",
    "Predictions",
    "RecordError",
    "RunRecord",
    "build_results",
    "read_predictions",
    "read_results",
    "write_predictions",
    "write_results",
]

RESULTS_FILE = "results.json"
PREDICTIONS_FILE = "predictions.npz"
#: results.json format: 2 adds split_fingerprint, calibration, per_class and predictions.
FORMAT = 2
READABLE_FORMATS = (1, 2)
PREDICTIONS_FORMAT = 1


class RecordError(ValueError):
    """A results.json or predictions.npz that cannot be trusted (the message names the file)."""


def build_results(
    *,
    cfg: Mapping[str, Any],
    metrics: Mapping[str, Any],
    split: str,
    backbone: Mapping[str, Any],
    dataset_config: str = "",
    eval_only: bool = False,
    extras: Optional[Mapping[str, Any]] = None,
    bad_images: Optional[list] = None,
    elapsed_s: float = 0.0,
    timing: Optional[Mapping[str, float]] = None,
    output_dir: str = "",
    split_fingerprint: str = "",
    evaluation: Optional[Mapping[str, Any]] = None,
    predictions: Optional[str] = None,
    finished_at: Optional[str] = None,
) -> dict[str, Any]:
    """The results.json payload of one finished evaluation (pure: no file or clock read unless not given)."""
    extras = dict(extras or {})
    bad = list(bad_images or [])
    ev = dict(evaluation or {})
    trainer = cfg.get("TRAINER", {}).get("NAME", "")
    data = cfg.get("DATASET", {})
    return {
        "format": FORMAT,
        "trainer": trainer,
        "method": method_label(cfg),
        "dataset": data.get("NAME", ""),
        "dataset_config": dataset_config,
        "shots": int(data.get("NUM_SHOTS", 0)),
        "seed": int(cfg.get("SEED", -1)),
        **dict(backbone),
        "subsample_classes": data.get("SUBSAMPLE_CLASSES", "all"),
        "split": split,
        "split_fingerprint": split_fingerprint,
        "eval_only": bool(eval_only),
        "selection": selection_protocol(cfg),
        "metrics": {k: float(v) for k, v in metrics.items() if k != "split"},
        "calibration": ev.get("calibration"),
        "per_class": ev.get("per_class"),
        "predictions": predictions,
        "sparsity": extras.get("sparsity"),
        "bad_images": {"count": len(bad), "paths": bad},
        "extra": {k: v for k, v in extras.items() if k != "sparsity"},
        "elapsed_s": round(float(elapsed_s), 2),
        "timing": {k: round(v, 3) for k, v in (timing or {}).items()},  # seconds, counts
        "output_dir": os.path.abspath(output_dir) if output_dir else "",
        "config": dict(cfg),
        "finished_at": finished_at or datetime.datetime.now().isoformat(timespec="seconds"),
    }


def write_results(run_dir: str, payload: Mapping[str, Any]) -> str:
    """Write ``payload`` as ``run_dir/results.json`` atomically; returns the path."""
    path = os.path.join(run_dir, RESULTS_FILE)
    atomic_write_json(path, dict(payload))
    return path


@dataclass(frozen=True)
class RunRecord:
    """A checked results.json (format 1 or 2); format-2-only fields are None for older runs."""

    path: str
    format: int
    trainer: str
    method: str
    dataset: str
    shots: Optional[int]
    seed: Optional[int]
    backbone: str
    metrics: dict
    raw: dict = field(repr=False)
    backbone_identity: Optional[dict] = None
    split_fingerprint: Optional[str] = None
    calibration: Optional[dict] = None
    per_class: Optional[dict] = None
    predictions: Optional[str] = None

    @property
    def run_dir(self) -> str:
        return os.path.dirname(self.path)

    @property
    def accuracy(self) -> float:
        return float(self.metrics["accuracy"])

    @property
    def backbone_digest(self) -> str:
        """The weights' SHA-256 when recorded (CLIP trainers), else the backbone label."""
        ident = self.backbone_identity or {}
        return str(ident.get("sha256") or self.backbone)

    @property
    def predictions_path(self) -> Optional[str]:
        return os.path.join(self.run_dir, self.predictions) if self.predictions else None

    def lacks(self) -> list[str]:
        """The analyses this run cannot give (an older run has neither predictions nor calibration)."""
        out = []
        if not self.predictions or not os.path.isfile(self.predictions_path or ""):
            out.append("paired significance (no predictions.npz)")
        if self.calibration is None:
            out.append("calibration")
        if self.per_class is None:
            out.append("per-class accuracy")
        return out


def read_results(run_dir: str) -> RunRecord:
    """Read and check ``run_dir/results.json``; ``FileNotFoundError`` if absent, ``RecordError`` if bad."""
    path = os.path.join(run_dir, RESULTS_FILE)
    with open(path, encoding="utf-8") as f:
        text = f.read()
    try:
        data = json.loads(text)
    except ValueError as e:
        raise RecordError(
            f"ERROR: {path} is not valid JSON ({e}). Delete it and re-run the evaluation."
        ) from e
    if not isinstance(data, dict):
        raise RecordError(
            f"ERROR: {path} holds a {type(data).__name__}, not a results object. Re-run the run."
        )
    fmt = data.get("format", 1)
    if fmt not in READABLE_FORMATS:
        raise RecordError(
            f"ERROR: {path} has format {fmt!r}; this version of ramt reads formats {READABLE_FORMATS}. "
            "Upgrade ramt (or re-run with this version)."
        )
    metrics = data.get("metrics")
    if not isinstance(metrics, dict) or "accuracy" not in metrics:
        raise RecordError(f"ERROR: {path} has no metrics.accuracy. The run did not finish: re-run it.")
    ident = data.get("backbone_identity")
    return RunRecord(
        path=path,
        format=int(fmt),
        trainer=str(data.get("trainer") or ""),
        method=str(data.get("method") or ""),
        dataset=str(data.get("dataset") or ""),
        shots=None if data.get("shots") is None else int(data["shots"]),
        seed=None if data.get("seed") is None else int(data["seed"]),
        backbone=str(data.get("backbone") or ""),
        metrics=metrics,
        raw=data,
        backbone_identity=ident if isinstance(ident, dict) else None,
        split_fingerprint=data.get("split_fingerprint"),
        calibration=data.get("calibration"),
        per_class=data.get("per_class"),
        predictions=data.get("predictions"),
    )


# ------------------------------------------------------------------ predictions
@dataclass(frozen=True)
class Predictions:
    """Per-image predictions of one test evaluation (arrays in split order)."""

    meta: dict
    index: np.ndarray  # int32: the image's position in the test split
    label: np.ndarray  # int32
    pred: np.ndarray  # int32 (top-1)
    topk_ids: np.ndarray  # int32 (n, k), best first
    topk_probs: np.ndarray  # float16 (n, k), softmax probabilities
    path: str = ""

    @property
    def correct(self) -> np.ndarray:
        return self.pred == self.label

    def __len__(self) -> int:
        return int(self.index.shape[0])


def write_predictions(
    run_dir: str,
    *,
    index: np.ndarray,
    label: np.ndarray,
    pred: np.ndarray,
    topk_ids: np.ndarray,
    topk_probs: np.ndarray,
    meta: Mapping[str, Any],
) -> str:
    """Write ``predictions.npz`` atomically (format, split fingerprint, backbone in ``meta``); returns its name."""
    n = int(np.asarray(index).shape[0])
    if any(np.asarray(a).shape[0] != n for a in (label, pred, topk_ids, topk_probs)):
        raise RecordError(
            f"ERROR: predictions for {run_dir} have arrays of different lengths; nothing written."
        )
    head = {"format": PREDICTIONS_FORMAT, **dict(meta), "n": n}
    buf = io.BytesIO()
    ids = np.asarray(topk_ids, dtype=np.int32)
    np.savez_compressed(
        buf,
        meta=np.array(json.dumps(head, sort_keys=True)),
        index=np.asarray(index, dtype=np.int32),
        label=np.asarray(label, dtype=np.int32),
        pred=np.asarray(pred, dtype=np.int32),
        topk_ids=ids,
        topk_probs=np.asarray(topk_probs, dtype=np.float16),
    )
    data = buf.getvalue()
    _atomic_write(os.path.join(run_dir, PREDICTIONS_FILE), lambda f: f.write(data))
    return PREDICTIONS_FILE


def read_predictions(path: str) -> Predictions:
    """Read a ``predictions.npz`` (a run folder gives its ``predictions.npz``), checking the format."""
    if os.path.isdir(path):
        path = os.path.join(path, PREDICTIONS_FILE)
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            arrays = {k: z[k] for k in ("index", "label", "pred", "topk_ids", "topk_probs")}
    except FileNotFoundError:
        raise
    except (OSError, ValueError, KeyError) as e:
        raise RecordError(
            f"ERROR: {path} is not a readable predictions file ({e}). Re-run the evaluation."
        ) from e
    if meta.get("format") != PREDICTIONS_FORMAT:
        raise RecordError(
            f"ERROR: {path} has predictions format {meta.get('format')!r}; this ramt reads {PREDICTIONS_FORMAT}."
        )
    if meta.get("n") != arrays["index"].shape[0]:
        raise RecordError(f"ERROR: {path} says n={meta.get('n')} but holds {arrays['index'].shape[0]} rows.")
    return Predictions(meta=meta, path=path, **arrays)
