"""train.py end to end (tiny CLIP, synthetic data) and its user-facing errors."""

import os
import subprocess
import sys

import pytest

import train

ZS_CFG = "configs/trainers/ZeroshotCLIP/vit_b16.yaml"
RAMT_CFG = "configs/trainers/RAMT/vit_b16.yaml"


def run_cli(argv, capsys):
    rc = train.cli(argv)
    out, err = capsys.readouterr()
    return rc, out, err


def zs_argv(root, out, *extra, dataset="caltech101"):
    return [
        "--root", str(root), "--trainer", "ZeroshotCLIP",
        "--dataset-config-file", f"configs/datasets/{dataset}.yaml",
        "--config-file", ZS_CFG, "--output-dir", str(out), "--eval-only",
        "DATALOADER.NUM_WORKERS", "0", *extra,
    ]  # fmt: skip


@pytest.fixture
def caltech_root(tmp_path, make_coop_dataset):
    make_coop_dataset(tmp_path / "data", name="caltech101", n_classes=3, n_train=4, n_val=2, n_test=3)
    return tmp_path / "data"


def test_zeroshot_eval_then_parse(tmp_path, caltech_root, capsys):
    out = tmp_path / "zs" / "caltech101"
    rc, stdout, _ = run_cli(zs_argv(caltech_root, out, "MODEL.BACKBONE.NAME", "tiny"), capsys)
    assert rc == 0
    log = (out / "log.txt").read_text()
    assert "=> result" in log and "* accuracy:" in log
    assert "Note that load_model() is skipped" in log
    assert (out / "results.json").is_file()
    res = subprocess.run(
        [sys.executable, "parse_test_res.py", str(tmp_path / "zs"), "--test-log"],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, res.stderr
    assert f"Summary of directory: {tmp_path / 'zs'}" in res.stdout
    assert "* accuracy:" in res.stdout and "+- 0.00%" in res.stdout


def test_backbone_path_loads_openai_checkpoint(tmp_path, caltech_root, tiny_clip_ckpt, capsys):
    out_name = tmp_path / "by_name"
    out_path = tmp_path / "by_path"
    assert run_cli(zs_argv(caltech_root, out_name, "MODEL.BACKBONE.NAME", "tiny"), capsys)[0] == 0
    rc, stdout, _ = run_cli(
        zs_argv(caltech_root, out_path, "MODEL.BACKBONE.PATH", str(tiny_clip_ckpt)), capsys
    )
    assert rc == 0
    acc = [line for line in (out_name / "log.txt").read_text().splitlines() if line.startswith("* accuracy")]
    acc2 = [line for line in (out_path / "log.txt").read_text().splitlines() if line.startswith("* accuracy")]
    assert acc == acc2  # same weights, same predictions
    assert str(tiny_clip_ckpt) in (out_path / "log.txt").read_text()


def test_missing_dataset_folder_error(tmp_path, capsys):
    rc, _, err = run_cli(zs_argv(tmp_path / "empty", tmp_path / "o", "MODEL.BACKBONE.NAME", "tiny"), capsys)
    assert rc == 2
    assert "caltech-101" in err and str(tmp_path / "empty") in err
    assert "ramt.data.prepare" in err or "DATASETS.md" in err


def test_missing_split_file_error(tmp_path, caltech_root, capsys):
    os.remove(caltech_root / "caltech-101" / "split_zhou_Caltech101.json")
    rc, _, err = run_cli(zs_argv(caltech_root, tmp_path / "o", "MODEL.BACKBONE.NAME", "tiny"), capsys)
    assert rc == 2
    assert "split_zhou_Caltech101.json" in err


def test_unknown_trainer_error(tmp_path, caltech_root, capsys):
    argv = zs_argv(caltech_root, tmp_path / "o", "MODEL.BACKBONE.NAME", "tiny")
    argv[argv.index("ZeroshotCLIP")] = "ZeroShotClip"
    rc, _, err = run_cli(argv, capsys)
    assert rc == 2
    assert "Unknown trainer 'ZeroShotClip'" in err and "ZeroshotCLIP" in err
    assert not (tmp_path / "o").exists()  # failed before writing anything


def test_unknown_dataset_error(tmp_path, caltech_root, capsys):
    argv = zs_argv(caltech_root, tmp_path / "o", "MODEL.BACKBONE.NAME", "tiny", "DATASET.NAME", "Caltech102")
    rc, _, err = run_cli(argv, capsys)
    assert rc == 2
    assert "Caltech102" in err and "Caltech101" in err


def test_unknown_backbone_error(tmp_path, caltech_root, capsys):
    rc, _, err = run_cli(zs_argv(caltech_root, tmp_path / "o", "MODEL.BACKBONE.NAME", "ViT-B-16"), capsys)
    assert rc == 2
    assert "ViT-B-16" in err and "ViT-B/16" in err


def test_missing_weights_error_names_file(tmp_path, caltech_root, capsys, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    rc, _, err = run_cli(zs_argv(caltech_root, tmp_path / "o", "MODEL.BACKBONE.NAME", "ViT-B/16"), capsys)
    assert rc == 2
    assert "ViT-B-16.pt" in err and "MODEL.BACKBONE.PATH" in err


def test_unknown_config_key_error(tmp_path, caltech_root, capsys):
    rc, _, err = run_cli(zs_argv(caltech_root, tmp_path / "o", "MODEL.BACKBONE.NAMES", "tiny"), capsys)
    assert rc == 2
    assert "MODEL.BACKBONE.NAMES" in err and "MODEL.BACKBONE.NAME" in err


def test_finished_run_is_not_overwritten(tmp_path, caltech_root, capsys):
    out = tmp_path / "zs"
    assert run_cli(zs_argv(caltech_root, out, "MODEL.BACKBONE.NAME", "tiny"), capsys)[0] == 0
    before = (out / "log.txt").read_text()
    rc, _, err = run_cli(zs_argv(caltech_root, out, "MODEL.BACKBONE.NAME", "tiny"), capsys)
    assert rc == 2 and "already holds a finished run" in err
    assert (out / "log.txt").read_text() == before


def test_seed_zero_is_honoured(tmp_path, caltech_root, capsys):
    out = tmp_path / "zs0"
    rc, _, _ = run_cli(zs_argv(caltech_root, out, "MODEL.BACKBONE.NAME", "tiny") + [], capsys)
    assert rc == 0
    argv = zs_argv(caltech_root, tmp_path / "zs1", "MODEL.BACKBONE.NAME", "tiny")
    argv[:0] = ["--seed", "0"]
    assert run_cli(argv, capsys)[0] == 0
    log = (tmp_path / "zs1" / "log.txt").read_text()
    assert "Setting fixed seed: 0" in log and "SEED: 0" in log
