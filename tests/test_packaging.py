"""The library never depends on the repository's top-level folders."""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run_elsewhere(tmp_path, code: str) -> subprocess.CompletedProcess:
    """Run ``code`` from ``tmp_path`` with a fake top-level ``datasets`` package first on sys.path."""
    fake = tmp_path / "shadow" / "datasets"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text(
        "raise RuntimeError('the fake top-level datasets package was imported')\n"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path / "shadow"), ROOT]))
    return subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )


def test_datasets_build_with_a_shadowing_datasets_package(tmp_path):
    code = (
        "from ramt.config import get_cfg_default, merge_from_file\n"
        "from ramt.data.manager import build_dataset\n"
        "cfg = get_cfg_default()\n"
        "merge_from_file(cfg, 'digits', kind='datasets')\n"
        f"cfg.DATASET.ROOT = {str(tmp_path / 'data')!r}\n"
        "cfg.DATASET.NUM_SHOTS = 1\n"
        "ds = build_dataset(cfg)\n"
        "print('classes', ds.num_classes)\n"
    )
    proc = _run_elsewhere(tmp_path, code)
    assert proc.returncode == 0, proc.stderr
    assert "classes 10" in proc.stdout


def test_trainers_register_from_the_package(tmp_path):
    code = "from ramt.train import import_plugins\nimport_plugins()\nfrom ramt.registry import TRAINER_REGISTRY as R\nprint(R.registered_names())\n"
    proc = _run_elsewhere(tmp_path, code)
    assert proc.returncode == 0, proc.stderr
    for name in ("RAMT", "CoOp", "TipAdapter", "CoOpRAMT", "TipAdapterRAMT", "ZeroshotCLIP"):
        assert name in proc.stdout


def test_shipped_config_names_resolve(tmp_path):
    from ramt.config import ConfigError, resolve_config_file

    assert resolve_config_file("digits", "datasets").endswith(os.path.join("datasets", "digits.yaml"))
    assert resolve_config_file("RAMT/vit_b16", "trainers").endswith(os.path.join("RAMT", "vit_b16.yaml"))
    assert resolve_config_file("configs/trainers/RAMT/vit_b16.yaml", "trainers")
    user = tmp_path / "digits.yaml"
    user.write_text("DATASET:\n  NAME: Digits\n")
    assert resolve_config_file(str(user), "datasets") == str(user)  # a user's file wins
    try:
        resolve_config_file("digitz", "datasets")
    except ConfigError as e:
        assert "digits" in str(e)
    else:
        raise AssertionError("an unknown config name must fail")


def test_non_editable_install_trains_from_another_folder(tmp_path):
    """``pip install .`` (a copy, not a link to the checkout), then train and report from elsewhere."""
    target = tmp_path / "site"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            ROOT,
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    assert (target / "ramt" / "configs" / "datasets" / "digits.yaml").is_file()
    assert (target / "ramt" / "published" / "results.csv").is_file()
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = dict(os.environ, PYTHONPATH=str(target))
    out = work / "out" / "digits" / "RAMT" / "tiny_1shots" / "seed1"
    train = [
        sys.executable,
        "-c",
        "import sys; from ramt.train import cli; sys.exit(cli())",
        "--root",
        str(work / "data"),
        "--seed",
        "1",
        "--trainer",
        "RAMT",
        "--dataset-config-file",
        "digits",
        "--config-file",
        "RAMT/digits_vit_b16",
        "--output-dir",
        str(out),
        "DATASET.NUM_SHOTS",
        "1",
        "MODEL.BACKBONE.NAME",
        "tiny",
        "OPTIM.MAX_EPOCH",
        "1",
    ]
    proc = subprocess.run(train, cwd=work, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "* accuracy:" in proc.stdout
    proc = subprocess.run(
        [sys.executable, "-c", "import ramt, sys; print(ramt.__file__)"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.stdout.strip().startswith(str(target)), proc.stdout
    proc = subprocess.run(
        [sys.executable, "-m", "ramt.report", str(work / "out")],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (work / "out" / "report" / "results_tidy.csv").is_file()
