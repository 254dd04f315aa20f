"""The sweep's job list (pure), local scheduling with a fake runner, and the Slurm path via submitit."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest

from ramt.methods import FEWSHOT_DATASETS
from ramt.sweep import Job, build_jobs, format_job_list, main, run_local, submit_slurm

REPO = Path(__file__).resolve().parents[1]
COMBOS = (
    "coop_ramt",
    "tip_adapter_ramt",
    "linear_probe_ramt",
    "cocoop_ramt",
    "prograd_ramt",
    "vpt_ramt",
    "upt_ramt",
)
HOSTS = ("linear_probe", "coop", "cocoop", "prograd", "vpt", "upt", "tip_adapter")
GENERIC = (
    "linear_probe_ramt",
    "cocoop_ramt",
    "prograd_ramt",
    "vpt_ramt",
    "upt_ramt",
)  # run by scripts/combination.sh <key>
N_PER_SHOT = (2 + len(HOSTS) + len(COMBOS)) * 11 * 3  # ramt, amt, hosts, combinations: 11 datasets x 3 seeds


def expected_commands(shots, datasets=FEWSHOT_DATASETS, seeds=(1, 2, 3)):
    cmds = [f"bash scripts/zsclip/main.sh {d}" for d in datasets]
    for stage in (["ramt", "amt"], list(HOSTS), list(COMBOS)):
        for m in stage:
            script = f"scripts/combination.sh {m}" if m in GENERIC else f"scripts/{m}/main.sh"
            for d in datasets:
                for k in shots:
                    for s in seeds:
                        line = f"SEEDS={s} bash {script} {d} {k}"
                        if m in COMBOS:
                            line += f"  # after ramt/{d}/{k}shots/seed{s}"
                        cmds.append(line)
    return cmds


def test_paper_grid_exact():
    jobs = build_jobs()
    assert len(jobs) == 11 + N_PER_SHOT
    listing = format_job_list(jobs).splitlines()
    assert listing[0] == f"# {11 + N_PER_SHOT} jobs"
    assert listing[1:] == expected_commands([16])


def test_all_shots_grid_and_dependency_order():
    jobs = build_jobs(shots=(16, 8, 4, 2, 1))
    assert len(jobs) == 11 + 5 * N_PER_SHOT
    assert format_job_list(jobs).splitlines()[1:] == expected_commands([16, 8, 4, 2, 1])
    pos = {j.name: i for i, j in enumerate(jobs)}
    for j in jobs:
        if j.method in COMBOS:
            (dep,) = j.deps
            assert dep == f"ramt/{j.dataset}/{j.shots}shots/seed{j.seed}" and pos[dep] < pos[j.name]
        else:
            assert j.deps == ()
    stages = [{"zsclip": 0, "ramt": 1, "amt": 1, **dict.fromkeys(HOSTS, 2)}.get(j.method, 3) for j in jobs]
    assert stages == sorted(stages)


def test_cli_dry_run_via_script(capsys):
    out = subprocess.run(
        ["bash", "scripts/reproduce_paper.sh", "--dry-run"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin", "PYTHON": sys.executable},
    ).stdout
    lines = out.splitlines()
    assert lines[0].startswith(f"# {11 + N_PER_SHOT} jobs") and lines[-1].startswith(
        "# "
    )  # the done/crashed/missing count
    assert [line.split(None, 1)[1] for line in lines[1:-1]] == expected_commands([16])
    assert {line.split(None, 1)[0] for line in lines[1:-1]} <= {"done", "crashed", "missing"}
    assert main(["--dry-run", "--all-shots"]) == 0
    assert capsys.readouterr().out.startswith(f"# {11 + 5 * N_PER_SHOT} jobs")


def test_filters_extra_and_env(capsys):
    rc = main(
        [
            "--dry-run",
            "--methods",
            "tip_adapter_ramt,ramt",
            "--datasets",
            "digits",
            "--seeds",
            "1",
            "--extra",
            "MODEL.BACKBONE.NAME tiny",
            "--output",
            "out dir",
        ]
    )
    assert rc == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].endswith("backbone folder tag tiny)")
    assert lines[1:] == [
        "missing  SEEDS=1 OUTPUT='out dir' bash scripts/ramt/main.sh digits 16 MODEL.BACKBONE.NAME tiny",
        "missing  SEEDS=1 OUTPUT='out dir' bash scripts/tip_adapter_ramt/main.sh digits 16 MODEL.BACKBONE.NAME tiny"
        "  # after ramt/digits/16shots/seed1",
        "# 0 done, 0 crashed, 2 missing",
    ]
    # Without R-AMT in the grid, a combination trains its own masks: no dependency.
    assert build_jobs(methods=["coop_ramt"], datasets=["digits"], seeds=[1])[0].deps == ()
    with pytest.raises(ValueError):
        build_jobs(methods=["nope"])
    with pytest.raises(ValueError):
        build_jobs(extra=["KEY"])


def test_run_local_gpus_dependencies_and_failures():
    jobs = build_jobs(methods=["ramt", "coop", "coop_ramt"], datasets=["a", "b"], seeds=[1])
    done, lock, seen_gpu = [], threading.Lock(), {}

    def runner(job, gpu):
        with lock:
            for d in job.deps:
                assert d in done, f"{job.name} started before {d}"
            seen_gpu[job.name] = gpu
        rc = 1 if job.name == "ramt/b/16shots/seed1" else 0
        with lock:
            done.append(job.name)
        return rc

    status = run_local(jobs, gpus=["0", "1"], runner=runner, echo=lambda s: None)
    assert status == {
        "ramt/a/16shots/seed1": "ok",
        "ramt/b/16shots/seed1": "failed",
        "coop/a/16shots/seed1": "ok",
        "coop/b/16shots/seed1": "ok",
        "coop_ramt/a/16shots/seed1": "ok",
        "coop_ramt/b/16shots/seed1": "skipped",
    }
    assert set(seen_gpu.values()) <= {"0", "1"}


class _FakeJob:
    def __init__(self, job_id):
        self.job_id = job_id

    def result(self):
        return 0


class _FakeSlurmExecutor:
    cluster = "slurm"

    def __init__(self):
        self.params, self.submitted = {}, []

    def update_parameters(self, **kw):
        self.params.update(kw)

    def submit(self, fn):
        job = _FakeJob(str(100 + len(self.submitted)))
        self.submitted.append((dict(self.params), fn, job.job_id))
        return job


def test_slurm_submission_dependencies():
    jobs = build_jobs(methods=["ramt", "tip_adapter_ramt"], datasets=["digits"], seeds=[1, 2])
    ex = _FakeSlurmExecutor()
    status = submit_slurm(jobs, ex, echo=lambda s: None)
    assert status == {j.name: "ok" for j in jobs}
    by_name = {p["name"]: (p, fn, jid) for p, fn, jid in ex.submitted}
    assert [p["name"] for p, _, _ in ex.submitted] == [j.name for j in jobs]
    for s in (1, 2):
        ramt_id = by_name[f"ramt/digits/16shots/seed{s}"][2]
        params, fn, _ = by_name[f"tip_adapter_ramt/digits/16shots/seed{s}"]
        assert params["slurm_additional_parameters"] == {"dependency": f"afterok:{ramt_id}"}
        assert fn.argv == ["bash", "scripts/tip_adapter_ramt/main.sh", "digits", "16"] and fn.env == {
            "SEEDS": str(s)
        }
    assert by_name["ramt/digits/16shots/seed1"][0]["slurm_additional_parameters"] == {}


def test_slurm_sbatch_text_has_dependency(tmp_path):
    import submitit
    from submitit.slurm.slurm import _make_sbatch_string

    text = _make_sbatch_string(
        command="python -m x",
        folder=tmp_path,
        job_name="coop_ramt/digits/16shots/seed1",
        partition="gpu",
        time=60,
        gpus_per_node=1,
        additional_parameters={"dependency": "afterok:101"},
    )
    assert "#SBATCH --dependency=afterok:101" in text and "#SBATCH --partition=gpu" in text
    assert submitit is not None


def test_submitit_local_executor_runs_in_waves(tmp_path):
    from ramt.sweep import make_slurm_executor

    marker = tmp_path / "order.txt"
    jobs = [
        Job("ramt/x", "ramt", "x", 16, 1, ("sh", "-c", f"echo ramt >> {marker}")),
        Job("combo/x", "coop_ramt", "x", 16, 1, ("sh", "-c", f"echo combo >> {marker}"), deps=("ramt/x",)),
        Job("combo/bad", "coop_ramt", "x", 16, 2, ("false",), deps=("ramt/x",)),
    ]
    ex = make_slurm_executor(tmp_path / "slurm", partition="gpu", timeout_min=5, cluster="local")
    status = submit_slurm(jobs, ex, echo=lambda s: None)
    assert status == {"ramt/x": "ok", "combo/x": "ok", "combo/bad": "failed"}
    assert marker.read_text().split() == ["ramt", "combo"]


def test_main_runs_jobs_reports_failures_and_still_collects(tmp_path, monkeypatch, capsys):
    import ramt.sweep as sweep

    out = tmp_path / "output"
    out.mkdir()
    calls = []

    def fake_runner_factory(log_dir=None, cwd=None):
        def run(job, gpu):
            calls.append((job.name, gpu, job.env_dict.get("OUTPUT")))
            return 0 if job.method == "ramt" else 3

        return run

    monkeypatch.setattr(sweep, "subprocess_runner", fake_runner_factory)
    rc = main(
        [
            "--methods",
            "ramt,coop",
            "--datasets",
            "digits",
            "--seeds",
            "1",
            "--output",
            str(out),
            "--gpus",
            "0",
        ]
    )
    text = capsys.readouterr().out
    assert rc == 1 and "failed: coop/digits/16shots/seed1" in text
    assert [c[0] for c in calls] == ["ramt/digits/16shots/seed1", "coop/digits/16shots/seed1"]
    assert {c[1] for c in calls} == {"0"} and {c[2] for c in calls} == {str(out)}
    assert (out / "report" / "fewshot_table.md").is_file()


def test_sweep_outside_a_checkout_runs_the_package_checkout_or_says_it_needs_one(
    tmp_path, monkeypatch, capsys
):
    """From another folder the jobs run in the checkout above the package, OUTPUT kept where asked;
    an installed package without a checkout gets one ERROR saying how to get one."""
    import ramt.sweep as sweep

    monkeypatch.chdir(tmp_path)
    assert sweep.checkout_root() == Path(sweep.__file__).resolve().parents[1]
    seen = []

    def fake_runner_factory(log_dir=None, cwd=None):
        def run(job, gpu):
            seen.append((cwd, job.env_dict["OUTPUT"], job.env_dict["DATA"]))
            return 0

        return run

    monkeypatch.setattr(sweep, "subprocess_runner", fake_runner_factory)
    grid = ["--methods", "ramt", "--datasets", "digits", "--seeds", "1", "--no-report"]
    assert main(grid) == 0
    root = str(Path(sweep.__file__).resolve().parents[1])
    assert seen == [(root, str(tmp_path / "output"), str(tmp_path / "data"))]

    monkeypatch.setattr(sweep, "checkout_root", lambda cwd=None: None)
    assert main(grid) == 2
    err = capsys.readouterr().err
    assert err.startswith("ERROR: python -m ramt.sweep runs the runner scripts") and "pip install -e ." in err
    assert main([*grid, "--dry-run"]) == 0  # listing needs no checkout
