"""The report's "Is the gain real?" and calibration sections, in the Markdown and in index.html."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest

from ramt import record
from ramt.methods import METHOD_REGISTRY
from ramt.report import write_report
from ramt.report.calibration import calibration_frame, plot_reliability
from ramt.report.collect import collect_runs
from ramt.report.significance import comparison_pairs, host_of
from tests.fixtures.predictions import write_pred_run
from tests.report.fabricate import make_cfg, write_run

N = 2000


def _with_calibration(folder, ece):
    data = record.read_results(str(folder)).raw
    data["calibration"] = {
        "ece": ece,
        "nll": 0.9,
        "n_bins": 15,
        "bins": {
            "count": [0] * 9 + [N // 2, N // 2] + [0] * 4,
            "confidence": [0.65] * 15,
            "accuracy": [0.6] * 15,
        },
    }
    data["per_class"] = {"worst": [{"label": 3, "name": "three", "accuracy": 41.0}], "count": [N]}
    record.write_results(str(folder), data)


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    out = tmp_path_factory.mktemp("sig")
    rng = np.random.default_rng(0)
    for s in (1, 2, 3):
        coop = rng.random(N) < 0.6
        combo = coop.copy()
        combo[rng.choice(np.flatnonzero(~coop), 100, replace=False)] = True  # +5 pp on every seed
        write_pred_run(
            out / f"digits/CoOp/digits_tiny_4shots/nctx16_cscFalse_ctpend/seed{s}",
            coop,
            trainer="CoOp",
            seed=s,
        )
        write_pred_run(
            out / f"digits/CoOpRAMT/digits_tiny_4shots/nctx16_cscFalse_ctpend/seed{s}",
            combo,
            trainer="CoOpRAMT",
            seed=s,
        )
        ramt = write_pred_run(out / f"digits/RAMT/tiny_4shots/seed{s}", combo, trainer="RAMT", seed=s)
        _with_calibration(ramt, 4.0 + s)
    write_pred_run(out / "ZeroshotCLIP/tiny/digits", rng.random(N) < 0.5, trainer="ZeroshotCLIP", shots=-1)
    write_run(
        out / "old/RAMT/seed4",
        make_cfg("RAMT", "digits", 4, 4, backbone="tiny"),
        result=50.0,
        json_result=50.0,
    )
    return out


def test_pairs_derive_from_the_registry():
    assert host_of(METHOD_REGISTRY["coop_ramt"]) == "coop" and host_of(METHOD_REGISTRY["ramt"]) is None
    pairs = comparison_pairs()
    for p in [
        ("CoOp+R-AMT", "CoOp"),
        ("Tip-Adapter-F+R-AMT", "Tip-Adapter-F"),
        ("R-AMT", "ZeroShotCLIP"),
        ("R-AMT", "AMT"),
    ]:
        assert p in pairs


def test_section_in_markdown_and_html(tree, tmp_path):
    files = write_report(tree, out_dir=tmp_path / "report", plots=False)
    md = files["significance.md"].read_text(encoding="utf-8")
    assert md.startswith("# Is the gain real?")
    row = next(ln for ln in md.splitlines() if ln.startswith("| CoOp+R-AMT vs CoOp | Digits | 4 |"))
    assert "+5.00" in row and "**better**" in row and "3/3" in row
    assert "| R-AMT vs ZeroShotCLIP | Digits | 4 |" in md
    assert "1 finished run(s) have no `predictions.npz`" in md and "old/RAMT/seed4" in md
    cal = files["calibration.md"].read_text(encoding="utf-8")
    assert "| R-AMT | Digits | 4 | tiny | 3 |" in cal and "| 6.00 |" in cal and "three (41%)" in cal
    page = files["index.html"].read_text(encoding="utf-8")
    assert "Is the gain real?" in page and "<strong>better</strong>" in page and "Calibration" in page


def test_reliability_diagram_written(tree, tmp_path):
    cal = calibration_frame(collect_runs(tree))
    (png,) = plot_reliability(cal, tmp_path)
    assert png.name == "reliability_Digits.png" and png.stat().st_size > 5000


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install -y chromium)")
def test_section_renders_in_headless_chromium(tree, tmp_path):
    files = write_report(tree, out_dir=tmp_path / "report", plots=False)
    dom = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--dump-dom",
            files["index.html"].resolve().as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert "Is the gain real?" in dom and "<strong>better</strong>" in dom
