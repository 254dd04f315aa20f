"""Worker mode: jobs run in one process give the results of separate processes."""

import json
import os
import subprocess
import sys

import pytest

from ramt.runs import log_result
from ramt.sweep import build_jobs, worker_jobs
from ramt.worker import plan_job

# Short: two epochs of one batch, evaluated on the few-shot val split (10 images).
SHORT = [
    "MODEL.BACKBONE.NAME",
    "tiny",
    "OPTIM.MAX_EPOCH",
    "2",
    "TRAIN.PRINT_FREQ",
    "100",
    "TEST.SPLIT",
    "val",
]
SHORT += ["OPTIM.LR", "0.004"]  # large enough for masks to flip in two steps
SEEDS = (1, 2, 3)


def _env(tmp_path, digits_root, out):
    return dict(
        os.environ,
        PYTHON=sys.executable,
        PYTHONPATH=os.getcwd(),
        DATA=digits_root,
        OUTPUT=str(tmp_path / out),
        RAMT_CACHE_DIR=str(tmp_path / "cache"),
    )


def _run_dir(root, seed):
    (run,) = (root / "digits" / "RAMT").glob(f"*_1shots/seed{seed}")  # the folder tag names the backbone
    return run


def _results(root):
    out = {}
    for seed in SEEDS:
        run = _run_dir(root, seed)
        with open(run / "results.json") as f:
            res = json.load(f)
        out[seed] = (
            log_result(str(run / "log.txt")),
            res["metrics"]["accuracy"],
            res["extra"]["mask_fingerprint"],
            res["sparsity"],
        )
    return out


def test_worker_sweep_matches_separate_processes(tmp_path, digits_root):
    seeds = ",".join(map(str, SEEDS))
    # Separate processes: the runner script starts one train.py per seed.
    env = _env(tmp_path, digits_root, "separate")
    env["SEEDS"] = " ".join(map(str, SEEDS))
    res = subprocess.run(
        ["bash", "scripts/ramt/main.sh", "digits", "1", *SHORT], env=env, capture_output=True, text=True
    )
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    # Worker mode: the same three jobs through the sweep, in one process.
    env = _env(tmp_path, digits_root, "worker")
    cmd = [sys.executable, "-m", "ramt.sweep", "--worker", "--methods", "ramt", "--datasets", "digits"]
    cmd += ["--shots", "1", "--seeds", seeds, "--extra", " ".join(SHORT), "--no-report"]
    cmd += ["--output", env["OUTPUT"], "--data", digits_root]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert "worker mode: 1 worker process(es)" in res.stdout
    separate, worker = _results(tmp_path / "separate"), _results(tmp_path / "worker")
    assert separate == worker
    # the seeds differ from each other, so the equality above is not vacuous
    assert len({v[2] for v in worker.values()}) == len(SEEDS)
    for seed in SEEDS:
        log = (_run_dir(tmp_path / "worker", seed) / "log.txt").read_text()
        assert f"Setting fixed seed: {seed}" in log and "Finish training" in log
    # Re-running the worker skips the finished runs (the scripts' check still applies).
    res = subprocess.run(cmd, env=env, capture_output=True, text=True)
    assert res.returncode == 0 and res.stdout.count("Skip ") == len(SEEDS), res.stdout[-2000:]


def test_worker_jobs_group_by_dataset_and_keep_dependencies():
    jobs = build_jobs(["ramt", "coop_ramt"], ["digits", "eurosat"], [4], [1, 2])
    grouped = worker_jobs(jobs, python="python")
    assert [g.name for g in grouped] == ["worker/digits", "worker/eurosat"]
    spec = json.loads(grouped[0].argv[grouped[0].argv.index("--jobs") + 1])
    assert [j["name"] for j in spec] == [
        "ramt/digits/4shots/seed1",
        "ramt/digits/4shots/seed2",
        "coop_ramt/digits/4shots/seed1",
        "coop_ramt/digits/4shots/seed2",
    ]
    assert spec[2]["deps"] == ["ramt/digits/4shots/seed1"] and spec[2]["env"]["SEEDS"] == "1"
    assert not grouped[0].deps


def test_plan_records_the_train_calls(tmp_path):
    env = {"OUTPUT": str(tmp_path / "o"), "DATA": "/data", "SEEDS": "1 2", "PYTHON": sys.executable}
    calls = plan_job(["bash", "scripts/ramt/main.sh", "digits", "4", "OPTIM.LR", "0.1"], env)
    assert len(calls) == 2
    folder, argv = calls[1]
    assert os.path.samefile(folder, os.getcwd())
    assert argv[:4] == ["--root", "/data", "--output-dir", f"{tmp_path}/o/digits/RAMT/vit_b16_4shots/seed2"]
    assert argv[-2:] == ["OPTIM.LR", "0.1"] and "--seed" in argv and "2" in argv
    assert not (tmp_path / "o").exists()  # nothing ran


@pytest.mark.parametrize("bad", [["bash", "scripts/ramt/main.sh", "nope", "4"]])
def test_plan_failure_is_reported(bad, tmp_path):
    with pytest.raises(RuntimeError, match="planning"):
        plan_job(bad, {"OUTPUT": str(tmp_path), "PYTHON": sys.executable})
