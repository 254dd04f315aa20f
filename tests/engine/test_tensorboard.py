"""TensorBoard scalars: on by default in the quick-start run folder, none with TRAIN.TENSORBOARD False."""

from __future__ import annotations

import builtins
import os
import warnings

import pytest

from ramt.engine import tensorboard as tb
from ramt.train import cli


def _scalars(log_dir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(log_dir))
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def test_event_files_in_quick_start_run_folder(quick_ramt_run):
    log_dir = os.path.join(quick_ramt_run.run_dir, "tensorboard")
    assert [f for f in os.listdir(log_dir) if f.startswith("events.out.tfevents.")]
    scalars = _scalars(log_dir)
    assert {"train/loss", "train/acc", "train/kl_loss", "train/mask_loss", "train/lr"} <= set(scalars)
    # One sparsity point per epoch (2 epochs), in percent; one loss point per step.
    sparsity = scalars["mask/shared/sparsity"]
    assert [s for s, _ in sparsity] == [1, 2] and all(0.0 <= v <= 100.0 for _, v in sparsity)
    steps = [s for s, _ in scalars["train/loss"]]
    assert steps == list(range(len(steps))) and len(steps) >= 2
    # The evaluation result equals the one in log.txt (the quick run evaluates on val).
    log = open(os.path.join(quick_ramt_run.run_dir, "log.txt")).read()
    (acc_line,) = [line for line in log.splitlines() if line.startswith("* accuracy:")]
    want = float(acc_line.split()[-1].rstrip("%"))
    assert scalars["val/accuracy"] == [(2, pytest.approx(want, abs=0.01))]


def test_off_switch_writes_nothing(tmp_path, digits_root):
    out = tmp_path / "off"
    argv = [
        "--root", digits_root, "--seed", "1", "--trainer", "RAMT",
        "--dataset-config-file", "digits", "--config-file", "RAMT/digits_vit_b16", "--output-dir", str(out),
        "MODEL.BACKBONE.NAME", "tiny", "DATASET.NUM_SHOTS", "1", "OPTIM.MAX_EPOCH", "1", "TEST.SPLIT", "val",
        "TRAIN.TENSORBOARD", "False",
    ]  # fmt: skip
    assert cli(argv) == 0
    assert (out / "results.json").is_file() and not (out / "tensorboard").exists()


def test_missing_package_warns_once_and_does_not_crash(tmp_path, monkeypatch):
    real_import = builtins.__import__

    def no_tensorboard(name, *args, **kwargs):
        if name.startswith("torch.utils.tensorboard"):
            raise ImportError("No module named 'tensorboard'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tensorboard)
    monkeypatch.setattr(tb, "_warned_missing", False)
    logs = [tb.TensorBoardLog(str(tmp_path / f"run{i}")) for i in range(2)]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for log in logs:
            log.scalars({"loss": 1.0}, step=0)
            log.scalars({"loss": 0.5}, step=1)
    assert len([w for w in caught if "tensorboard" in str(w.message)]) == 1
    assert not any(log.enabled for log in logs)
    assert not list(tmp_path.iterdir())
