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
