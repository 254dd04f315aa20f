"""scripts/ramt/main.sh: 3 seeds, skip finished seeds, re-run the one whose result vanished."""

import os
import subprocess
import sys

FAST = ["MODEL.BACKBONE.NAME", "tiny", "OPTIM.MAX_EPOCH", "1", "DATALOADER.NUM_WORKERS", "0"]


def run_script(script, *args, env_extra=None, check=True):
    env = dict(os.environ, PYTHON=sys.executable, **(env_extra or {}))
    res = subprocess.run(["bash", script, *map(str, args)], env=env, capture_output=True, text=True)
    if check:
        assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return res


def test_main_sh_skips_finished_and_reruns_crashed(tmp_path, digits_root):
    env = {"DATA": digits_root, "OUTPUT": str(tmp_path / "out"), "SEEDS": "1 2 3"}
    res = run_script("scripts/ramt/main.sh", "digits", 1, *FAST, env_extra=env)
    exp = tmp_path / "out" / "digits" / "RAMT" / "tiny_1shots"
    assert sorted(os.listdir(exp)) == ["seed1", "seed2", "seed3"]
    assert res.stdout.count("Run ") == 3

    again = run_script("scripts/ramt/main.sh", "digits", 1, *FAST, env_extra=env)
    assert again.stdout.count("Skip ") == 3 and "Run " not in again.stdout

    log2 = exp / "seed2" / "log.txt"
    log2.write_text(
        "".join(line for line in log2.read_text().splitlines(True) if not line.startswith("* accuracy"))
    )
    third = run_script("scripts/ramt/main.sh", "digits", 1, *FAST, env_extra=env)
    assert third.stdout.count("Skip ") == 2
    assert "Re-run " in third.stdout and "seed2" in third.stdout.split("Re-run ")[1].splitlines()[0]
    assert "* accuracy" in log2.read_text()

    parsed = subprocess.run([sys.executable, "parse_test_res.py", str(exp)], capture_output=True, text=True)
    assert parsed.returncode == 0 and "Summary of directory" in parsed.stdout
    assert parsed.stdout.count("file: ") == 3


def test_main_sh_errors(tmp_path):
    env = {"DATA": str(tmp_path / "nodata"), "OUTPUT": str(tmp_path / "out")}
    res = run_script("scripts/ramt/main.sh", "imagenet_21k", 16, env_extra=env, check=False)
    assert res.returncode != 0 and "unknown dataset 'imagenet_21k'" in res.stderr
    res = run_script("scripts/ramt/main.sh", "caltech101", "sixteen", env_extra=env, check=False)
    assert res.returncode != 0 and "SHOTS must be a positive integer" in res.stderr
    res = run_script("scripts/ramt/main.sh", "imagenet", 16, env_extra=env, check=False)
    assert res.returncode != 0
    assert "imagenet" in res.stderr and str(tmp_path / "nodata") in res.stderr
    assert "Traceback" not in res.stderr


def test_base2new_train_then_eval(tmp_path, digits_root):
    env = {"DATA": digits_root, "OUTPUT": str(tmp_path / "out"), "SEEDS": "1"}
    run_script("scripts/ramt/base2new_train.sh", "digits", *FAST, env_extra=env)
    run_script("scripts/ramt/base2new_eval.sh", "digits", *FAST, env_extra=env)
    base = tmp_path / "out/base2new/train_base/digits/shots_16/RAMT/tiny"
    new = tmp_path / "out/base2new/test_new/digits/shots_16/RAMT/tiny"
    base_log = (base / "seed1" / "log.txt").read_text()
    new_log = (new / "seed1" / "log.txt").read_text()
    assert "SUBSAMPLE BASE CLASSES!" in base_log and "# classes  5" in base_log
    assert "SUBSAMPLE NEW CLASSES!" in new_log and "# classes  5" in new_log
    assert "lambda = 1.0" in base_log
    assert f'Loading weights to shared from "{base}/seed1/shared/model.pth.tar-1"' in new_log
    parsed = subprocess.run(
        [sys.executable, "parse_test_res.py", str(new), "--test-log"], capture_output=True, text=True
    )
    assert parsed.returncode == 0 and "* accuracy:" in parsed.stdout


def test_eval_sh_evaluates_the_finished_run(tmp_path, digits_root):
    """eval.sh: the R-AMT run's masks evaluated again, in the registry's evaluation folder."""
    env = {"DATA": digits_root, "OUTPUT": str(tmp_path / "out"), "SEEDS": "1"}
    missing = run_script("scripts/ramt/eval.sh", "digits", 1, *FAST, env_extra=env, check=False)
    assert missing.returncode != 0 and "no finished R-AMT run in" in missing.stderr
    assert "bash scripts/ramt/main.sh digits 1" in missing.stderr
    run_script("scripts/ramt/main.sh", "digits", 1, *FAST, env_extra=env)
    run_script("scripts/ramt/eval.sh", "digits", 1, *FAST, env_extra=env)
    src = tmp_path / "out/digits/RAMT/tiny_1shots/seed1"
    new = tmp_path / "out/evaluation/RAMT/tiny_1shots/digits/seed1"
    log = (new / "log.txt").read_text()
    assert f'Loading weights to shared from "{src}/shared/model.pth.tar-1"' in log
    acc = [line for line in log.splitlines() if line.startswith("* accuracy")]
    trained = [line for line in (src / "log.txt").read_text().splitlines() if line.startswith("* accuracy")]
    assert acc and acc[-1] == trained[-1]  # the same masks on the same test split
