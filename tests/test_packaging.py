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
