"""Runner scripts of Linear-probe CLIP, CoCoOp (few-shot and base-to-new) and ProGrad, end to end (tiny CLIP).

One seed each, one epoch; every run folder must parse with parse_test_res.py.
"""

import json
import subprocess
import sys

import pytest

from ramt.sweep import build_jobs
from ramt.sweep_status import job_states
from tests.scripts.test_method_scripts import TINY, env_for, parse, run_script

ONE_EPOCH = TINY + ["OPTIM.MAX_EPOCH", "1"]


def sweep_state(method, out, shots, extra):
    """The sweep's view (--status) of the one-seed Digits job of ``method``."""
    (job,) = build_jobs(methods=[method], datasets=["digits"], shots=[shots], seeds=[1], extra=extra)
    (state,) = job_states([job], env={"OUTPUT": str(out)})
    return state.state


@pytest.mark.slow
def test_linear_probe_script(tmp_path, digits_root):
    env = env_for(tmp_path, digits_root)
    res = run_script("scripts/linear_probe/main.sh", "digits", 4, *TINY, env_extra=env)
    exp = tmp_path / "digits" / "LinearProbeCLIP" / "digits_tiny_4shots"
    assert "Chosen C:" in (exp / "seed1" / "log.txt").read_text() and "Run " in res.stdout
    parse(exp)
    results = json.load(open(exp / "seed1" / "results.json"))
    assert results["method"] == "LinearProbeCLIP" and results["extra"]["lp_C"] > 0
    assert sweep_state("linear_probe", tmp_path, 4, TINY) == "done"


@pytest.mark.slow
def test_prograd_script(tmp_path, digits_root):
    run_script("scripts/prograd/main.sh", "digits", 4, *ONE_EPOCH, env_extra=env_for(tmp_path, digits_root))
    exp = tmp_path / "digits" / "ProGrad" / "digits_tiny_4shots" / "nctx16_cscFalse_ctpend"
    assert (exp / "seed1" / "prompt_learner" / "model.pth.tar-1").is_file()
    log = (exp / "seed1" / "log.txt").read_text()
    assert "xe_loss" in log and "kl_loss" in log and "lambda 1.0" in log
    parse(exp)
    assert json.load(open(exp / "seed1" / "results.json"))["method"] == "ProGrad"
    assert sweep_state("prograd", tmp_path, 4, ONE_EPOCH) == "done"


@pytest.mark.slow
def test_cocoop_script(tmp_path, digits_root):
    run_script("scripts/cocoop/main.sh", "digits", 1, *ONE_EPOCH, env_extra=env_for(tmp_path, digits_root))
    exp = tmp_path / "digits" / "CoCoOp" / "digits_tiny_1shots"
    log = (exp / "seed1" / "log.txt").read_text()
    assert 'Initial context: "a photo of a"' in log and "batch [10/10]" in log  # batch size 1
    parse(exp)
    assert json.load(open(exp / "seed1" / "results.json"))["method"] == "CoCoOp"
    assert sweep_state("cocoop", tmp_path, 1, ONE_EPOCH) == "done"


@pytest.mark.slow
def test_cocoop_base2new_on_caltech101_layout(tmp_path, make_coop_dataset):
    data = make_coop_dataset(tmp_path / "data", name="caltech101", n_classes=4, n_train=3, n_val=1, n_test=2)
    env = {"DATA": data.root, "OUTPUT": str(tmp_path / "out"), "SEEDS": "1", "LOADEP": "1"}
    run_script("scripts/cocoop/base2new_train.sh", "caltech101", *ONE_EPOCH, env_extra=env)
    run_script("scripts/cocoop/base2new_eval.sh", "caltech101", *ONE_EPOCH, env_extra=env)
    base = tmp_path / "out/base2new/train_base/caltech101/shots_16/CoCoOp/tiny_c4_ep10_batch1_ctxv1"
    new = tmp_path / "out/base2new/test_new/caltech101/shots_16/CoCoOp/tiny_c4_ep10_batch1_ctxv1"
    base_log = (base / "seed1" / "log.txt").read_text()
    new_log = (new / "seed1" / "log.txt").read_text()
    assert "SUBSAMPLE BASE CLASSES!" in base_log and "SUBSAMPLE NEW CLASSES!" in new_log
    assert f'Loading weights to prompt_learner from "{base}/seed1/prompt_learner/model.pth.tar-1"' in new_log
    base_res = json.load(open(base / "seed1" / "results.json"))
    new_res = json.load(open(new / "seed1" / "results.json"))
    assert base_res["subsample_classes"] == "base" and new_res["subsample_classes"] == "new"
    assert new_res["eval_only"] and new_res["method"] == "CoCoOp"
    parse_new = subprocess.run(
        [sys.executable, "parse_test_res.py", str(new), "--test-log"], capture_output=True, text=True
    )
    assert parse_new.returncode == 0 and "* accuracy:" in parse_new.stdout
