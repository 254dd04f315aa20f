"""``--slurm`` end to end through submitit's local executor: real Digits/tiny jobs, dependencies,
results collected, a failed job reported, then resumed by re-running the same command."""

from __future__ import annotations

import glob
import os
import sys
from pathlib import Path

import pandas as pd

from ramt.runs import is_finished
from ramt.sweep import main

REPO = Path(__file__).resolve().parents[1]
EXTRA = "MODEL.BACKBONE.NAME tiny OPTIM.MAX_EPOCH 1 TEST.SPLIT val"


def _python_wrapper(tmp_path: Path, fail_flag: Path) -> Path:
    """A PYTHON for the runner scripts that crashes Tip-Adapter+R-AMT while ``fail_flag`` exists
    (a job dying on its node), and is the test's interpreter otherwise."""
    wrapper = tmp_path / "python_wrapper.sh"
    wrapper.write_text(
        "#!/usr/bin/env bash\n"
        f'if [ -e "{fail_flag}" ] && [[ " $* " == *" TipAdapterRAMT "* ]]; then\n'
        '  echo "injected failure" >&2; exit 3\n'
        "fi\n"
        f'exec "{sys.executable}" "$@"\n'
    )
    wrapper.chmod(0o755)
    return wrapper


def test_slurm_path_with_submitit_local_executor(tmp_path, digits_root, monkeypatch, capsys):
    out = tmp_path / "output"
    fail_flag = tmp_path / "fail_tip_adapter_ramt"
    fail_flag.touch()
    monkeypatch.chdir(REPO)
    monkeypatch.setenv("PYTHON", str(_python_wrapper(tmp_path, fail_flag)))
    monkeypatch.setenv("PYTHONPATH", str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    monkeypatch.setenv("VARIANTS", "tip")  # Tip-Adapter+R-AMT: the training-free variant only
    argv = [
        "--slurm", "--cluster", "local", "--slurm-folder", str(tmp_path / "slurm" / "%j"),
        "--timeout-min", "10", "--methods", "ramt,tip_adapter_ramt", "--datasets", "digits",
        "--shots", "1", "--seeds", "1", "--extra", EXTRA, "--output", str(out), "--data", digits_root,
    ]  # fmt: skip

    # First sweep: R-AMT succeeds, the combination that depends on it crashes; both are reported.
    assert main(argv) == 1
    text = capsys.readouterr().out
    assert "submitted ramt/digits/1shots/seed1" in text
    assert "failed: tip_adapter_ramt/digits/1shots/seed1" in text
    assert "ok: ramt" not in text and "failed: ramt" not in text
    (ramt_dir,) = glob.glob(str(out / "digits" / "RAMT" / "*" / "seed1"))
    assert is_finished(ramt_dir)
    assert not glob.glob(str(out / "digits" / "TipAdapterRAMT" / "*" / "tip" / "seed1" / "log.txt"))
    ramt_log = Path(ramt_dir, "log.txt").read_text()
    # submitit kept each job's stdout/stderr; the crashed job's says why.
    stderr_files = glob.glob(str(tmp_path / "slurm" / "*" / "*_log.err"))
    assert any("injected failure" in Path(f).read_text() for f in stderr_files)

    # Second sweep, same command: the finished R-AMT run is skipped, the combination reuses its masks.
    fail_flag.unlink()
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "all 2 jobs finished" in text
    assert Path(ramt_dir, "log.txt").read_text() == ramt_log  # not re-trained
    (tip_dir,) = glob.glob(str(out / "digits" / "TipAdapterRAMT" / "*" / "tip" / "seed1"))
    assert is_finished(tip_dir)
    assert f"Mask run: {os.path.abspath(ramt_dir)}" in Path(tip_dir, "log.txt").read_text()
    # Results collected: one finished row per run in the report's tidy table.
    tidy = pd.read_csv(out / "report" / "results_tidy.csv")
    rows = tidy[(tidy["status"] == "ok") & (tidy["shots"] == 1)]
    assert sorted(rows["trainer"]) == ["RAMT", "TipAdapterRAMT"]
    assert rows["accuracy"].notna().all()
