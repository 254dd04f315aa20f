"""Sweep status on a fabricated output tree: done / crashed / missing marks and the remaining-time estimate."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ramt.sweep import build_jobs, main
from ramt.sweep_status import estimate_remaining, format_status, job_run_dirs, job_states
from tests.report.fabricate import make_cfg, write_run

REPO = Path(__file__).resolve().parents[1]
DATASETS = ("caltech101", "oxford_flowers")


@pytest.fixture
def tree(tmp_path):
    """R-AMT: caltech101 seeds 1-3 done (600 s, 900 s and a results.json of 1200 s), seed 1 of
    oxford_flowers crashed; Tip-Adapter: caltech101 seed 1 done for both variants (60 s + 240 s), seed 2
    has only tip (a half-done job = crashed); zero-shot caltech101 done; everything else missing."""
    out = tmp_path / "output"
    for s, el in ((1, "0:10:00"), (2, "0:15:00")):
        write_run(
            out / "caltech101/RAMT/vit_b16_16shots" / f"seed{s}",
            make_cfg("RAMT", "caltech101", 16, s),
            result=96.0,
            elapsed=el,
        )
    folder = write_run(
        out / "caltech101/RAMT/vit_b16_16shots/seed3",
        make_cfg("RAMT", "caltech101", 16, 3),
        result=96.0,
        json_result=96.0,
    )
    data = json.loads((folder / "results.json").read_text())
    (folder / "results.json").write_text(json.dumps(dict(data, elapsed_s=1200.0)))
    write_run(out / "oxford_flowers/RAMT/vit_b16_16shots/seed1", make_cfg("RAMT", "oxford_flowers", 16, 1))
    for variant, el in (("tip", "0:01:00"), ("tipf", "0:04:00")):
        write_run(
            out / "caltech101/TipAdapter/vit_b16_16shots" / variant / "seed1",
            make_cfg("TipAdapter", "caltech101", 16, 1, finetune=variant == "tipf"),
            result=95.0,
            elapsed=el,
        )
    write_run(
        out / "caltech101/TipAdapter/vit_b16_16shots/tip/seed2",
        make_cfg("TipAdapter", "caltech101", 16, 2),
        result=95.0,
    )
    write_run(
        out / "ZeroshotCLIP/vit_b16/caltech101",
        make_cfg("ZeroshotCLIP", "caltech101", -1, 1),
        result=93.0,
        trained=False,
        eval_only=True,
        elapsed="0:00:30",
    )
    return out


def grid(out, **kw):
    return build_jobs(
        methods=kw.get("methods", ("zsclip", "ramt", "tip_adapter", "coop")),
        datasets=DATASETS,
        env={"OUTPUT": str(out), **kw.get("env", {})},
    )


def test_run_dirs_follow_the_scripts(tmp_path):
    jobs = {j.name: j for j in grid(tmp_path, methods=("zsclip", "ramt", "coop", "tip_adapter", "coop_ramt"))}
    assert job_run_dirs(jobs["zsclip/caltech101"]) == [(tmp_path / "ZeroshotCLIP/vit_b16/caltech101", True)]
    assert job_run_dirs(jobs["coop/caltech101/16shots/seed2"]) == [
        (tmp_path / "caltech101/CoOp/vit_b16_16shots/nctx16_cscFalse_ctpend/seed2", False)
    ]
    tip = grid(tmp_path, methods=("tip_adapter",), env={"PROTOCOL": "official", "VARIANTS": "tipf"})[0]
    assert job_run_dirs(tip) == [
        (tmp_path / "caltech101/TipAdapter/vit_b16_16shots/tipf_official/seed1", False)
    ]
    one_shot = build_jobs(
        methods=("coop_ramt",),
        datasets=("caltech101",),
        shots=(1,),
        seeds=(1,),
        extra=("COMBO.MODE", "joint"),
        env={"OUTPUT": str(tmp_path)},
    )[0]
    tiny = build_jobs(
        methods=("zsclip", "ramt", "coop"),
        datasets=("digits",),
        seeds=(1,),
        extra=("MODEL.BACKBONE.NAME", "tiny"),
        env={"OUTPUT": str(tmp_path)},
    )
    assert [job_run_dirs(j)[0][0] for j in tiny] == [  # the backbone's folder tag, as the scripts
        tmp_path / "ZeroshotCLIP/tiny/digits",
        tmp_path / "digits/RAMT/tiny_16shots/seed1",
        tmp_path / "digits/CoOp/digits_tiny_16shots/nctx16_cscFalse_ctpend/seed1",
    ]
    assert job_run_dirs(one_shot) == [
        (tmp_path / "caltech101/CoOpRAMT/vit_b16_ep50_1shots/nctx16_cscFalse_ctpend_joint/seed1", False)
    ]


def test_states(tree):
    states = {st.job.name: st for st in job_states(grid(tree))}
    assert states["zsclip/caltech101"].state == "done" and states["zsclip/oxford_flowers"].state == "missing"
    assert [states[f"ramt/caltech101/16shots/seed{s}"].state for s in (1, 2, 3)] == ["done"] * 3
    assert [states[f"ramt/caltech101/16shots/seed{s}"].elapsed_s for s in (1, 2, 3)] == [600, 900, 1200.0]
    assert states["ramt/oxford_flowers/16shots/seed1"].state == "crashed"
    assert states["ramt/oxford_flowers/16shots/seed2"].state == "missing"
    assert states["tip_adapter/caltech101/16shots/seed1"].state == "done"
    assert states["tip_adapter/caltech101/16shots/seed1"].elapsed_s == 300  # tip + tipf
    assert states["tip_adapter/caltech101/16shots/seed2"].state == "crashed"  # tipf never ran
    assert states["coop/caltech101/16shots/seed1"].state == "missing"


def test_remaining_estimate(tree):
    table = estimate_remaining(job_states(grid(tree)))
    ramt = table["ramt"]
    assert (ramt["done"], ramt["crashed"], ramt["missing"]) == (3, 1, 2)
    # Each of the 3 oxford_flowers jobs: no finished run of that dataset -> same shots (16): mean 900 s.
    assert ramt["remaining_s"] == pytest.approx(3 * 900.0) and ramt["mean_done_s"] == pytest.approx(900.0)
    tip = table["tip_adapter"]
    # caltech101 seeds 2-3 use the caltech101 16-shot job (300 s); oxford_flowers the same shots (300 s).
    assert (tip["done"], tip["crashed"], tip["missing"]) == (1, 1, 4) and tip["remaining_s"] == pytest.approx(
        5 * 300
    )
    assert table["zsclip"]["remaining_s"] == pytest.approx(30) and table["coop"]["no_estimate"] == 6
    assert table["total"]["remaining_s"] == pytest.approx(2700 + 1500 + 30)
    text = format_status(job_states(grid(tree)))
    assert "ramt" in text and "45 min" in text  # 2700 s
    assert "15 of 20 jobs left; estimated GPU time left: ≥ 1.2 h" in text  # 4230 s, coop unknown
    assert "6 job(s) have no finished run of their method" in text


def test_cli_dry_run_marks_and_status(tree, capsys):
    args = [
        "--methods",
        "zsclip,ramt,tip_adapter,coop",
        "--datasets",
        ",".join(DATASETS),
        "--output",
        str(tree),
    ]
    assert main(["--dry-run", *args]) == 0
    lines = capsys.readouterr().out.splitlines()
    ramt_lines = [line for line in lines if "scripts/ramt/" in line]
    assert [line.split()[0] for line in ramt_lines] == ["done"] * 3 + ["crashed", "missing", "missing"]
    assert lines[-1] == "# 5 done, 2 crashed, 13 missing"
    assert main(["--status", *args]) == 0
    assert "estimated GPU time left" in capsys.readouterr().out
    res = subprocess.run(
        ["bash", "scripts/reproduce_paper.sh", "--status", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "PYTHON": sys.executable, "PYTHONPATH": str(REPO)},
    )
    assert res.returncode == 0 and "15 of 20 jobs left" in res.stdout
