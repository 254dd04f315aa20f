"""The README's main job on one seed: R-AMT on Digits with the tiny backbone beats zero-shot."""

import os
import subprocess
import sys

from ramt.runs import log_result


def test_ramt_beats_zeroshot_on_digits(tmp_path, digits_root):
    env = dict(os.environ, PYTHON=sys.executable, DATA=digits_root, OUTPUT=str(tmp_path / "out"), SEEDS="1")
    for cmd in (
        ["bash", "scripts/ramt/main.sh", "digits", "4", "MODEL.BACKBONE.NAME", "tiny"],
        ["bash", "scripts/zsclip/main.sh", "digits", "MODEL.BACKBONE.NAME", "tiny"],
    ):
        res = subprocess.run(cmd, env=env, capture_output=True, text=True)
        assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    ramt = log_result(str(tmp_path / "out/digits/RAMT/tiny_4shots/seed1/log.txt"))
    zs = log_result(str(tmp_path / "out/ZeroshotCLIP/tiny/digits/log.txt"), test_log=True)
    assert ramt is not None and zs is not None
    assert ramt > zs + 5.0, (ramt, zs)

    # Issue 12, item 1: the same command is skipped; another experiment into the same folder is
    # refused, naming the differing key and the fix, never skipped as "finished".
    ramt_cmd = ["bash", "scripts/ramt/main.sh", "digits", "4", "MODEL.BACKBONE.NAME", "tiny"]
    again = subprocess.run(ramt_cmd, env=env, capture_output=True, text=True)
    assert again.returncode == 0 and "Skip " in again.stdout, again.stderr[-2000:]
    other = subprocess.run(ramt_cmd + ["MASK.GDR_LAMBDA", "0.3"], env=env, capture_output=True, text=True)
    assert other.returncode != 0 and "Skip" not in other.stdout
    assert "MASK.GDR_LAMBDA: recorded -1.0, now 0.3" in other.stderr and "EXP=" in other.stderr
