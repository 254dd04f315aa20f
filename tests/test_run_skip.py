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
def finished(tmp_path, make_coop_dataset, tiny_clip_ckpt, capsys, monkeypatch):
    """A finished evaluation-only run with the tiny weights given by file; returns (dir, args, data).

    Its files are written just before the run: the clock slack that distrusts such files
    (tested on its own below) is set to 0 here so that the run records its inputs.
    """
    monkeypatch.setattr(runs, "INPUT_CLOCK_SLACK_NS", 0)
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


def test_inputs_changed_while_the_run_started_are_not_trusted(finished, monkeypatch):
    """A file whose stats postdate the start of the identity computation disables the fast path."""
    _, args, data, _ = finished
    monkeypatch.setattr(runs, "INPUT_CLOCK_SLACK_NS", 2_000_000_000)
    cfg = runs.setup_cfg(runs.build_parser().parse_args(args))
    dataset = type("D", (), {"fingerprint_inputs": (data.split_path,)})()
    ident = {"backbone": "b", "split": "s"}
    old = runs.record_inputs(cfg, ident, dataset, since_ns=time.time_ns() + 10 * runs.INPUT_CLOCK_SLACK_NS)
    assert old["split"] == "s"
    _bump(data.split_path)  # changed while (or just before) the identity was computed
    racy = runs.record_inputs(cfg, ident, dataset, since_ns=os.stat(data.split_path).st_mtime_ns)
    assert racy["split"] is None


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


def test_skip_check_of_a_finished_seed_stays_light(finished):
    """A fresh process, as the runner scripts call it, answers without importing torch (the
    measured time is in docs/RUNS.md: 0.42 s against 13.4 s when the inputs are recomputed)."""
    run_dir, args, _, _ = finished
    code = (
        "import sys\n"
        "from ramt import runs\n"
        f"rc = runs.main(['is-finished', {run_dir!r}, '--test-log', '--', *{args!r}])\n"
        "print(rc, 'torch' in sys.modules)\n"
    )
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.split() == ["0", "False"]
