"""Runner scripts of CoOp, Tip-Adapter and the two R-AMT combinations, end to end on Digits (tiny CLIP).

One seed each, short schedules; every run folder must parse with parse_test_res.py.
"""

import json
import os
import subprocess
import sys

import pytest

TINY = ["MODEL.BACKBONE.NAME", "tiny", "DATALOADER.NUM_WORKERS", "0"]
COOP_FAST = TINY + ["OPTIM.MAX_EPOCH", "2"]
TIP_FAST = TINY + ["TRAINER.TIP.AUGMENT_EPOCH", "1", "TRAINER.TIP.TRAIN_EPOCH", "2"]


def run_script(script, *args, env_extra=None, check=True):
    env = dict(os.environ, PYTHON=sys.executable, **(env_extra or {}))
    res = subprocess.run(["bash", script, *map(str, args)], env=env, capture_output=True, text=True)
    if check:
        assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return res


def parse(folder):
    res = subprocess.run([sys.executable, "parse_test_res.py", str(folder)], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Summary of directory" in res.stdout and res.stdout.count("file: ") == 1
    return res.stdout


@pytest.fixture(scope="module")
def out_root(tmp_path_factory):
    return tmp_path_factory.mktemp("method_scripts_out")


def env_for(out_root, digits_root, **extra):
    return {"DATA": digits_root, "OUTPUT": str(out_root), "SEEDS": "1", **extra}


@pytest.mark.slow
def test_coop_script(out_root, digits_root):
    res = run_script(
        "scripts/coop/main.sh", "digits", 4, *COOP_FAST, env_extra=env_for(out_root, digits_root)
    )
    exp = out_root / "digits" / "CoOp" / "digits_tiny_4shots" / "nctx16_cscFalse_ctpend"
    assert (exp / "seed1" / "prompt_learner" / "model.pth.tar-2").is_file()
    assert "Run " in res.stdout
    parse(exp)
    again = run_script(
        "scripts/coop/main.sh", "digits", 4, *COOP_FAST, env_extra=env_for(out_root, digits_root)
    )
    assert "Skip " in again.stdout and "Run " not in again.stdout


@pytest.mark.slow
def test_tip_adapter_script_runs_both_variants(out_root, digits_root):
    run_script(
        "scripts/tip_adapter/main.sh", "digits", 4, *TIP_FAST, env_extra=env_for(out_root, digits_root)
    )
    exp = out_root / "digits" / "TipAdapter" / "tiny_4shots"
    assert sorted(os.listdir(exp)) == ["tip", "tipf"]
    for variant, method in (("tip", "Tip-Adapter"), ("tipf", "Tip-Adapter-F")):
        parse(exp / variant)
        res = json.load(open(exp / variant / "seed1" / "results.json"))
        assert res["method"] == method and res["extra"]["tip"]["search_split"] == "val"
        assert (exp / variant / "seed1" / "tip_hparams.json").is_file()
    assert (exp / "tipf" / "seed1" / "adapter" / "model.pth.tar-2").is_file()


@pytest.mark.slow
def test_combination_scripts_reuse_the_ramt_run(out_root, digits_root):
    env = env_for(out_root, digits_root)
    res = run_script("scripts/coop_ramt/main.sh", "digits", 4, *COOP_FAST, env_extra=env)
    source = out_root / "digits" / "RAMT" / "tiny_4shots" / "seed1"
    assert "Stage 1" in res.stdout and (source / "mask_run.json").is_file()
    exp = out_root / "digits" / "CoOpRAMT" / "digits_tiny_4shots" / "nctx16_cscFalse_ctpend"
    parse(exp)
    log = (exp / "seed1" / "log.txt").read_text()
    fingerprint = json.load(open(source / "mask_run.json"))["mask_fingerprint"]
    assert f"Mask run: {source}" in log and f"Mask fingerprint: {fingerprint}" in log
    assert json.load(open(exp / "seed1" / "results.json"))["method"] == "CoOp+R-AMT"

    # Tip-Adapter + R-AMT reuses the finished R-AMT run instead of training it again.
    res = run_script(
        "scripts/tip_adapter_ramt/main.sh",
        "digits",
        4,
        *TIP_FAST,
        "OPTIM.MAX_EPOCH",
        "2",
        env_extra=dict(env, VARIANTS="tipf"),  # the headline host; "tip" runs through the same code
    )
    assert "Stage 1" not in res.stdout
    exp = out_root / "digits" / "TipAdapterRAMT" / "tiny_4shots"
    assert os.listdir(exp) == ["tipf"]
    parse(exp / "tipf")
    res = json.load(open(exp / "tipf" / "seed1" / "results.json"))
    assert res["method"] == "Tip-Adapter-F+R-AMT" and res["extra"]["mask_fingerprint"] == fingerprint


def test_coop_config_follows_shots(tmp_path):
    env = {"DATA": str(tmp_path / "nodata"), "OUTPUT": str(tmp_path / "out"), "SEEDS": "1"}
    res = run_script("scripts/coop/main.sh", "caltech101", 2, env_extra=env, check=False)
    assert res.returncode != 0  # no data here; the folder name is what is checked
    assert "/caltech101/CoOp/vit_b16_ep100_2shots/nctx16_cscFalse_ctpend/seed1" in res.stdout
    res = run_script("scripts/tip_adapter/main.sh", "caltech101", "two", env_extra=env, check=False)
    assert res.returncode != 0 and "SHOTS must be a positive integer" in res.stderr


@pytest.mark.slow
def test_tip_adapter_official_protocol_has_its_own_folder(out_root, digits_root):
    env = env_for(out_root, digits_root, VARIANTS="tipf", PROTOCOL="official")
    run_script("scripts/tip_adapter/main.sh", "digits", 4, *TIP_FAST, env_extra=env)
    exp = out_root / "digits" / "TipAdapter" / "tiny_4shots"
    assert (exp / "tipf_official" / "seed1" / "log.txt").is_file()
    res = json.load(open(exp / "tipf_official" / "seed1" / "results.json"))
    assert res["selection"]["name"] == "official" and res["selection"]["uses_test"]
    assert res["extra"]["tip"]["search_split"] == "val_full" and res["extra"]["tip"]["f_epoch"]["best_epoch"]
    parse(exp / "tipf_official")
    # The default folder (if the default test ran first) is never reused by the official protocol.
    if (exp / "tipf" / "seed1" / "results.json").is_file():
        assert json.load(open(exp / "tipf" / "seed1" / "results.json"))["selection"]["name"] == "default"


def test_official_protocol_options_per_dataset(tmp_path):
    """The protocol options and folders come from ramt.selection (no bash copy of the rule)."""

    def runs(dataset, protocol="official", variants="tip tipf"):
        env = dict(os.environ, OUTPUT=str(tmp_path), PROTOCOL=protocol, VARIANTS=variants)
        cmd = [sys.executable, "-m", "ramt.methods", "runs", "tip_adapter", dataset, "16", "1"]
        res = subprocess.run(cmd, env=env, capture_output=True, text=True)
        return res.returncode, [line.split("\t") for line in res.stdout.splitlines()], res.stderr

    _, (tip, tipf), _ = runs("imagenet")
    assert tipf[0] == str(tmp_path / "imagenet/TipAdapter/vit_b16_16shots/tipf_official/seed1")
    assert " ".join(tipf[3:]).count("TRAINER.TIP.SEARCH_SPLIT test TRAINER.TIP.F_EPOCH best_test") == 1
    assert "TRAINER.TIP.F_EPOCH" not in tip and "TRAINER.TIP.SEARCH_SPLIT test" in " ".join(tip)
    _, (tip,), _ = runs("caltech101", variants="tip")
    assert tip[0].endswith("/tip_official/seed1") and "TRAINER.TIP.SEARCH_SPLIT val" in " ".join(tip)
    _, (tipf,), _ = runs("caltech101", "default", "tipf")
    assert tipf[0].endswith("/tipf/seed1") and "TRAINER.TIP.SEARCH_SPLIT" not in tipf
    rc, _, err = runs("caltech101", "paper")
    assert rc != 0 and "ERROR: unknown PROTOCOL 'paper'" in err


@pytest.mark.slow
def test_generic_combination_script_reuses_the_ramt_run(out_root, digits_root):
    """VPT-deep + R-AMT through scripts/combination.sh (reuses the R-AMT run of the test above when
    it ran first, else trains it), then its one-line runner skips the finished seed."""
    env = env_for(out_root, digits_root)
    run_script(
        "scripts/combination.sh", "vpt_ramt", "digits", 4, *TINY, "OPTIM.MAX_EPOCH", "1", env_extra=env
    )
    source = out_root / "digits" / "RAMT" / "tiny_4shots" / "seed1"
    exp = out_root / "digits" / "VPTRAMT" / "digits_tiny_4shots"  # the host's Digits recipe
    parse(exp)
    fingerprint = json.load(open(source / "mask_run.json"))["mask_fingerprint"]
    log = (exp / "seed1" / "log.txt").read_text()
    assert f"Mask run: {source}" in log and f"Mask fingerprint: {fingerprint}" in log
    assert (exp / "seed1" / "prompt_learner" / "model.pth.tar-1").is_file()
    result = json.load(open(exp / "seed1" / "results.json"))
    assert result["config"]["INPUT"]["TRANSFORMS"] == [
        "random_resized_crop",
        "normalize",
    ]  # VPT's Digits recipe
    assert result["method"] == "VPT-deep+R-AMT" and result["extra"]["mask_fingerprint"] == fingerprint
    again = run_script("scripts/vpt_ramt/main.sh", "digits", 4, *TINY, "OPTIM.MAX_EPOCH", "1", env_extra=env)
    assert "Stage 1" not in again.stdout and "Skip " in again.stdout


@pytest.mark.parametrize("key, trainer", [("vpt", "VPT"), ("amt", "RAMT")])  # upt: the same template
def test_new_method_scripts_folders(tmp_path, key, trainer):
    env = {"DATA": str(tmp_path / "nodata"), "OUTPUT": str(tmp_path / "out"), "SEEDS": "1"}
    res = run_script(f"scripts/{key}/main.sh", "caltech101", 2, env_extra=env, check=False)
    assert res.returncode != 0  # no data here; the folder name is what is checked
    folder = "vit_b16_2shots_amt" if key == "amt" else "vit_b16_2shots"
    assert f"/caltech101/{trainer}/{folder}/seed1" in res.stdout
