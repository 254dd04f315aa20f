"""The one run record: results.json built and read by ramt.record; predictions.npz written atomically."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from ramt import record
from ramt.compare import compare_runs, load_runs
from tests.fixtures.predictions import cfg_dict, write_pred_run

FORMAT1_KEYS = {
    "format", "trainer", "method", "dataset", "dataset_config", "shots", "seed", "backbone",
    "subsample_classes", "split", "eval_only", "selection", "metrics", "sparsity", "bad_images",
    "extra", "elapsed_s", "timing", "output_dir", "config", "finished_at",
}  # fmt: skip


def _payload(**kw):
    return record.build_results(
        cfg=cfg_dict("RAMT", "Digits", 4, 2),
        metrics={"accuracy": 81.5, "error_rate": 18.5, "macro_f1": 80.0},
        split="test",
        backbone={"backbone": "tiny"},
        extras={"sparsity": {"sparsity": 2.0}, "tip_alpha": 1.0},
        bad_images=["a.jpg"],
        timing={"eval": 1.23456},
        **kw,
    )


def test_build_results_keeps_format1_keys_and_adds_format2():
    p = _payload(split_fingerprint="fp", evaluation={"calibration": {"ece": 3.0}, "per_class": {"worst": []}})
    assert FORMAT1_KEYS <= set(p)
    assert p["format"] == 2 and p["method"] == "R-AMT" and p["shots"] == 4 and p["seed"] == 2
    assert p["sparsity"] == {"sparsity": 2.0} and p["extra"] == {"tip_alpha": 1.0}
    assert p["bad_images"] == {"count": 1, "paths": ["a.jpg"]} and p["timing"] == {"eval": 1.235}
    assert p["selection"]["name"] == "default"
    assert p["split_fingerprint"] == "fp" and p["calibration"] == {"ece": 3.0}


def test_read_results_roundtrip_and_format1(tmp_path):
    record.write_results(str(tmp_path), _payload(predictions="predictions.npz"))
    rec = record.read_results(str(tmp_path))
    assert (rec.format, rec.method, rec.dataset, rec.seed, rec.accuracy) == (2, "R-AMT", "Digits", 2, 81.5)
    old = {k: v for k, v in _payload().items() if k in FORMAT1_KEYS}
    old["format"] = 1
    (tmp_path / "results.json").write_text(json.dumps(old))
    rec = record.read_results(str(tmp_path))
    assert rec.format == 1 and rec.calibration is None and rec.split_fingerprint is None
    assert rec.lacks() == ["paired significance (no predictions.npz)", "calibration", "per-class accuracy"]


@pytest.mark.parametrize(
    "text,match",
    [
        ("{", "not valid JSON"),
        (json.dumps({"format": 9, "metrics": {"accuracy": 1}}), "format 9"),
        ("{}", "metrics"),
    ],
)
def test_bad_results_json_is_one_clear_error(tmp_path, text, match):
    (tmp_path / "results.json").write_text(text)
    with pytest.raises(record.RecordError, match=match) as e:
        record.read_results(str(tmp_path))
    assert str(e.value).startswith("ERROR:") and str(tmp_path / "results.json") in str(e.value)


def test_predictions_roundtrip_compact_and_atomic(tmp_path):
    n = 540
    labels = np.arange(n) % 10
    ids = np.stack([(labels + j) % 10 for j in range(5)], 1)
    probs = np.full((n, 5), 0.2)
    meta = {"split_fingerprint": "fp", "backbone": "tiny"}
    name = record.write_predictions(
        str(tmp_path),
        index=np.arange(n),
        label=labels,
        pred=labels,
        topk_ids=ids,
        topk_probs=probs,
        meta=meta,
    )
    assert sorted(os.listdir(tmp_path)) == [name]  # no temporary file left behind
    p = record.read_predictions(str(tmp_path))
    assert len(p) == n and p.correct.all() and p.meta["format"] == record.PREDICTIONS_FORMAT
    assert p.topk_probs.dtype == np.float16 and p.topk_ids.dtype == np.int32
    assert (tmp_path / name).stat().st_size < 20 * n  # compact: well under 20 bytes per image
    with pytest.raises(record.RecordError, match="different lengths"):
        record.write_predictions(
            str(tmp_path),
            index=np.arange(n),
            label=labels[:-1],
            pred=labels,
            topk_ids=ids,
            topk_probs=probs,
            meta={},
        )


def test_record_is_torch_free():
    code = "import sys, ramt.record, ramt.compare; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_engine_run_writes_record_predictions_and_calibration(quick_ramt_run):
    rec = record.read_results(quick_ramt_run.run_dir)
    assert rec.format == 2 and rec.predictions == record.PREDICTIONS_FILE and rec.split_fingerprint
    cal = rec.calibration
    assert (
        cal["n_bins"] == 15 and len(cal["bins"]["count"]) == 15 and 0 <= cal["ece"] <= 100 and cal["nll"] > 0
    )
    assert sum(cal["bins"]["count"]) == sum(rec.per_class["count"]) and len(rec.per_class["worst"]) == 5
    preds = record.read_predictions(rec.predictions_path)
    assert (
        preds.meta["split"] == rec.raw["split"] and preds.meta["split_fingerprint"] == rec.split_fingerprint
    )
    assert 100 * preds.correct.mean() == pytest.approx(rec.accuracy)
    assert (preds.index == np.arange(len(preds))).all()
    (comp,) = compare_runs(load_runs(quick_ramt_run.run_dir), load_runs(quick_ramt_run.run_dir), n_boot=200)
    assert comp.delta == 0 and comp.verdict == "not distinguishable"


def test_write_pred_run_fixture_is_consistent(tmp_path):
    run = write_pred_run(tmp_path / "r", np.array([True, False, True, True]))
    assert record.read_results(str(run)).accuracy == 75.0
