"""Imports point one way: the import-linter contracts in pyproject.toml hold, and they catch a break."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LINT = [
    sys.executable,
    "-c",
    "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())",
]


def lint(tree: str) -> subprocess.CompletedProcess:
    """Run ``lint-imports`` on the ``ramt`` package and the contracts found under ``tree``."""
    env = dict(os.environ, PYTHONPATH=tree)
    cmd = [*LINT, "--no-cache", os.path.join(tree, "pyproject.toml")]
    return subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture
def tree(tmp_path):
    """A copy of the package and its contracts, to break on purpose."""
    shutil.copytree(
        os.path.join(ROOT, "ramt"), tmp_path / "ramt", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copy(os.path.join(ROOT, "pyproject.toml"), tmp_path / "pyproject.toml")
    return tmp_path


def test_the_real_tree_keeps_every_contract():
    res = lint(ROOT)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
    assert "ramt layers (top to bottom) KEPT" in res.stdout
    assert "no import cycles between sibling modules KEPT" in res.stdout


def test_an_import_from_a_lower_layer_up_is_refused(tree):
    (tree / "ramt" / "utils" / "_upward.py").write_text(
        '"""Breaks the layers on purpose."""\n\nimport ramt.runs\n'
    )
    res = lint(str(tree))
    assert res.returncode == 1, res.stdout[-3000:]
    assert "ramt layers (top to bottom) BROKEN" in res.stdout
    assert "ramt.utils is not allowed to import ramt.runs" in res.stdout
    assert "ramt.utils._upward -> ramt.runs" in res.stdout


def test_an_import_cycle_inside_one_layer_is_refused(tree):
    bits = tree / "ramt" / "masks" / "bits.py"
    bits.write_text(bits.read_text() + "\nfrom . import maskset  # noqa: E402  closes a cycle on purpose\n")
    res = lint(str(tree))
    assert res.returncode == 1, res.stdout[-3000:]
    assert "ramt layers (top to bottom) KEPT" in res.stdout
    assert "no import cycles between sibling modules BROKEN" in res.stdout
    assert "No cycles are allowed in ramt.masks" in res.stdout


def test_the_ci_entry_point_runs_the_linter():
    with open(os.path.join(ROOT, ".ci", "run")) as f:
        lines = [line.strip() for line in f if not line.lstrip().startswith("#")]
    assert "lint-imports --no-cache" in lines
    assert lines.index("lint-imports --no-cache") < lines.index("python -m pytest -q")


def test_the_data_layer_finds_datasets_through_the_registry_provider():
    """``ramt.data`` does not import ``ramt.datasets``; the registry imports it on the first lookup."""
    code = (
        "import sys\n"
        "import ramt.data.manager\n"
        "from ramt.registry import DATASET_REGISTRY\n"
        "print('before', 'ramt.datasets' in sys.modules)\n"
        "print('found', 'Digits' in DATASET_REGISTRY)\n"
        "print('after', 'ramt.datasets' in sys.modules)\n"
    )
    env = dict(os.environ, PYTHONPATH=ROOT)
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.split() == ["before", "False", "found", "True", "after", "True"]
