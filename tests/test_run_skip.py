"""The skip check (``python -m ramt.runs is-finished DIR -- TRAIN_ARGS``): fast, and exactly as strict."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time

import pytest

from ramt import runs
from ramt.train import cli

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _bump(path):
    """Make sure a rewritten file's mtime differs from the recorded one (coarse clocks)."""
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))


@pytest.fixture
def finished(tmp_path, make_coop_dataset, tiny_clip_ckpt, capsys):
    """A finished evaluation-only run with the tiny weights given by file; returns (dir, args, data)."""
    data = make_coop_dataset(tmp_path / "data", name="caltech101", n_classes=2, n_train=2, n_val=1, n_test=2)
    weights = tmp_path / "weights.pt"
    shutil.copyfile(tiny_clip_ckpt, weights)
    out = tmp_path / "run"
    args = [
        "--root", str(tmp_path / "data"), "--trainer", "ZeroshotCLIP",
        "--dataset-config-file", "configs/datasets/caltech101.yaml",
        "--config-file", "configs/trainers/ZeroshotCLIP/vit_b16.yaml", "--output-dir", str(out),
        "--eval-only", "DATALOADER.NUM_WORKERS", "0", "MODEL.BACKBONE.PATH", str(weights),
    ]  # fmt: skip
    assert cli(args) == 0
    capsys.readouterr()
    return str(out), args, data, weights


def _check(run_dir, args):
    return runs.main(["is-finished", run_dir, "--test-log", "--", *args])


def test_the_run_records_its_inputs(finished):
    run_dir, _, data, weights = finished
    inputs = json.load(open(os.path.join(run_dir, runs.RUN_FILE)))["inputs"]
    assert set(inputs["files"]) == {str(weights), os.path.abspath(data.split_path)}
    assert inputs["split"] and inputs["backbone"].startswith("sha256:")


def test_unchanged_inputs_skip_without_rebuilding(finished, monkeypatch):
    run_dir, args, _, _ = finished

    def rebuilt(_argv):
        raise AssertionError("the skip check rebuilt the dataset although nothing changed")

    monkeypatch.setattr(runs, "identity_from_train_args", rebuilt)
    assert _check(run_dir, args) == 0


def test_changed_settings_are_refused(finished, capsys):
    run_dir, args, _, _ = finished
    assert _check(run_dir, [*args, "DATASET.NUM_SHOTS", "4"]) == runs.EXIT_MISMATCH
    assert "DATASET.NUM_SHOTS: recorded -1, now 4" in capsys.readouterr().err


def test_changed_weights_are_refused(finished, capsys):
    run_dir, args, _, weights = finished
    blob = bytearray(weights.read_bytes())
    blob[-1] ^= 0xFF
    weights.write_bytes(bytes(blob))
    _bump(weights)
    assert _check(run_dir, args) == runs.EXIT_MISMATCH
    assert "backbone: recorded 'sha256:" in capsys.readouterr().err


def test_changed_split_is_refused(finished, capsys):
    run_dir, args, data, _ = finished
    split = json.load(open(data.split_path))
    split["test"] = split["test"][:-1]
    with open(data.split_path, "w") as f:
        json.dump(split, f)
    _bump(data.split_path)
    assert _check(run_dir, args) == runs.EXIT_MISMATCH
    assert "split: recorded" in capsys.readouterr().err


def test_touched_but_equal_inputs_are_recomputed_and_accepted(finished, monkeypatch):
    """A changed stat only costs the recomputation: the same content is still the same run."""
    run_dir, args, data, _ = finished
    _bump(data.split_path)
    calls = []
    slow = runs.identity_from_train_args
    monkeypatch.setattr(runs, "identity_from_train_args", lambda a: calls.append(a) or slow(a))
    assert _check(run_dir, args) == 0
    assert len(calls) == 1


def test_skip_check_of_a_finished_seed_is_fast(finished):
    """The measured figure is in docs/RUNS.md; a fresh process, as the runner scripts call it."""
    run_dir, args, _, _ = finished
    cmd = [sys.executable, "-m", "ramt.runs", "is-finished", run_dir, "--test-log", "--", *args]
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    best = float("inf")
    for _ in range(2):
        t0 = time.perf_counter()
        res = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
        best = min(best, time.perf_counter() - t0)
        assert res.returncode == 0, res.stderr
    assert best < 3.0, f"is-finished took {best:.2f} s (docs/RUNS.md: well under 1 s)"
    probe = "import sys, ramt.runs; print('torch' in sys.modules)"
    assert (
        subprocess.run(
            [sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True
        ).stdout.strip()
        == "False"
    )
