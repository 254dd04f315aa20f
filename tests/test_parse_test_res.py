"""parse_test_res.py: CoOp's output for valid inputs, warnings for everything it drops."""

import subprocess
import sys

import numpy as np


def write_log(path, acc=None, finished=True, test_log=False, extra=""):
    path.mkdir(parents=True, exist_ok=True)
    lines = ["Setting fixed seed: 1", "epoch [1/2] batch [1/1] loss 1.0 (1.0) acc 50.0 (50.0)"]
    lines.append("* accuracy: 11.11%")  # a per-epoch val line before the signal must be ignored
    if finished and not test_log:
        lines.append("Finish training")
    if acc is not None:
        lines += [
            "Evaluate on the *test* set",
            "=> result",
            "* total: 100",
            f"* accuracy: {acc:.2f}%",
            "* error: 1.00%",
        ]
    lines.append(extra)
    (path / "log.txt").write_text("\n".join(lines) + "\n")


def parse(*args):
    return subprocess.run(
        [sys.executable, "parse_test_res.py", *map(str, args)], capture_output=True, text=True
    )


def test_summary_matches_coop_format(tmp_path):
    d = tmp_path / "exp"
    for s, acc in zip((1, 2, 3), (95.4, 95.6, 95.3)):
        write_log(d / f"seed{s}", acc)
    res = parse(d)
    assert res.returncode == 0, res.stderr
    vals = [95.4, 95.6, 95.3]
    expected = [
        f"Parsing files in {d}",
        f"file: {d}/seed1/log.txt. accuracy: 95.40%. ",
        f"file: {d}/seed2/log.txt. accuracy: 95.60%. ",
        f"file: {d}/seed3/log.txt. accuracy: 95.30%. ",
        "===",
        f"Summary of directory: {d}",
        f"* accuracy: {np.mean(vals):.2f}% +- {np.std(vals):.2f}%",
        "===",
    ]
    assert res.stdout.splitlines() == expected
    assert res.stderr == ""


def test_ci95(tmp_path):
    d = tmp_path / "exp"
    for s, acc in zip((1, 2), (90.0, 92.0)):
        write_log(d / f"seed{s}", acc)
    res = parse(d, "--ci95")
    ci = 1.96 * np.std([90.0, 92.0]) / np.sqrt(2)
    assert f"* accuracy: 91.00% +- {ci:.2f}%" in res.stdout


def test_drops_are_warned_not_silent(tmp_path):
    d = tmp_path / "exp"
    write_log(d / "seed1", 80.0)
    write_log(d / "seed2", None, finished=False)  # crashed
    (d / "seed3").mkdir()  # never started
    (d / "notes.txt").write_text("stray file")
    (d / "seed1" / "log.txt-2026-01-01-00-00-00").write_text("old")
    res = parse(d)
    assert res.returncode == 0
    assert "* accuracy: 80.00% +- 0.00%" in res.stdout
    assert "dropping" in res.stderr and "seed2" in res.stderr and "seed3" in res.stderr
    assert "notes.txt" in res.stderr and "log.txt-2026-01-01-00-00-00" in res.stderr


def test_test_log_mode_and_nothing_found(tmp_path):
    d = tmp_path / "zs"
    write_log(d / "caltech101", 90.0, test_log=True)
    write_log(d / "dtd", 40.0, test_log=True)
    assert parse(d).returncode != 0  # no 'Finish training' in eval-only logs
    res = parse(d, "--test-log")
    assert "* accuracy: 65.00% +- 25.00%" in res.stdout


def test_multi_exp_and_json(tmp_path):
    root = tmp_path / "coop"
    for exp, accs in (("a", (90.0, 92.0)), ("b", (70.0, 72.0))):
        for s, acc in enumerate(accs, 1):
            write_log(root / exp / f"seed{s}", acc)
    out_json = tmp_path / "s.json"
    res = parse(root, "--multi-exp", "--json", out_json)
    assert res.stdout.splitlines()[-2:] == ["Average performance", "* accuracy: 81.00%"]
    import json

    rows = json.loads(out_json.read_text())
    assert [r["mean"] for r in rows] == [91.0, 71.0] and rows[0]["n"] == 2


def test_sparsity_keyword(tmp_path):
    d = tmp_path / "exp"
    write_log(d / "seed1", 90.0, extra="=> mask sparsity\n* zeros: 1,234\n* sparsity: 2.56%")
    res = parse(d, "--keyword", "sparsity")
    assert "* sparsity: 2.56% +- 0.00%" in res.stdout


def test_a_single_run_folder_is_parsed_as_one_run(tmp_path):
    d = tmp_path / "zs_digits"
    write_log(d, 42.0, test_log=True)
    res = parse(d, "--test-log")
    assert res.returncode == 0, res.stderr
    assert f"file: {d}/log.txt. accuracy: 42.00%. " in res.stdout
    assert "* accuracy: 42.00% +- 0.00%" in res.stdout
