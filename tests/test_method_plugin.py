"""A new host + R-AMT combination needs one trainer file, one config file and one script line.

The test writes a throwaway combination (training-free Tip-Adapter on the folded R-AMT encoder,
registered as ``toy_tip_ramt``) into tmp: its trainer file (trainer class + method registry
entry) and its config file, nothing else. Loaded through ``$RAMT_PLUGINS``, it is trained by
its one-line runner (``scripts/combination.sh``, which trains the R-AMT run it reuses first),
listed by the sweep's dry run (after that R-AMT run) and by the report.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

TRAINER_FILE = '''
"""Toy host + R-AMT: training-free Tip-Adapter on the folded R-AMT encoder."""
import os

from ramt.methods import Method, register_method, with_masks
from ramt.registry import TRAINER_REGISTRY
from ramt.trainers._masked import SourceMasks
from ramt.trainers.tip_adapter import TipAdapter


@TRAINER_REGISTRY.register()
class ToyTipRAMT(SourceMasks, TipAdapter):
    """Tip-Adapter + masks."""


register_method(
    Method(
        "toy_tip_ramt",
        ("ToyTipRAMT",),
        with_masks("ToyTip"),
        ("ToyTip+R-AMT",),
        stage=3,
        reuses="ramt",
        config=os.path.join(os.path.dirname(__file__), "toy_tip_ramt.yaml"),
        script="scripts/combination.sh toy_tip_ramt",
    )
)
'''

CONFIG_FILE = """
DATALOADER:
  TRAIN_X:
    BATCH_SIZE: 4
  TEST:
    BATCH_SIZE: 4
  NUM_WORKERS: 0
INPUT:
  PIXEL_MEAN: [0.48145466, 0.4578275, 0.40821073]
  PIXEL_STD: [0.26862954, 0.26130258, 0.27577711]
TRAINER:
  TIP:
    AUGMENT_EPOCH: 1
    SEARCH_STEP: (4, 4)
"""


def _run(args, env, cwd=REPO):
    res = subprocess.run([sys.executable, *args], env=env, cwd=cwd, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return res.stdout


def test_toy_combination_is_trained_swept_and_reported(tmp_path, data_root):
    plugin = tmp_path / "plugin"
    plugin.mkdir()
    (plugin / "toy_tip_ramt.py").write_text(textwrap.dedent(TRAINER_FILE))
    (plugin / "toy_tip_ramt.yaml").write_text(textwrap.dedent(CONFIG_FILE))
    env = dict(os.environ, PYTHONPATH=REPO, RAMT_PLUGINS=str(plugin / "toy_tip_ramt.py"), RAMT_OFFLINE="1")

    # The sweep lists the combination after the R-AMT run it reuses, with its one-line runner.
    listing = _run(
        ["-m", "ramt.sweep", "--dry-run", "--datasets", "caltech101", "--shots", "2", "--seeds", "1"], env
    )
    assert (
        "missing  SEEDS=1 bash scripts/combination.sh toy_tip_ramt caltech101 2  # after ramt/caltech101/2shots/seed1"
        in listing.splitlines()
    )

    # Its one-line runner trains the R-AMT run it reuses, then the combination (train.py finds the
    # trainer through RAMT_PLUGINS) on the folded encoder.
    fast = ["MODEL.BACKBONE.NAME", "tiny", "DATALOADER.NUM_WORKERS", "0", "OPTIM.MAX_EPOCH", "1"]
    res = subprocess.run(
        ["bash", "scripts/combination.sh", "toy_tip_ramt", "caltech101", "2", *fast],
        env=dict(env, PYTHON=sys.executable, DATA=str(data_root), OUTPUT=str(tmp_path / "out"), SEEDS="1"),
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert "Stage 1: R-AMT run" in res.stdout
    run_dir = tmp_path / "out" / "caltech101" / "ToyTipRAMT" / "toy_tip_ramt_2shots" / "seed1"
    log = (run_dir / "log.txt").read_text()
    assert "Combination (project reconstruction, two-stage)" in log and "* accuracy:" in log
    assert str(tmp_path / "out" / "caltech101" / "RAMT" / "tiny_2shots" / "seed1") in log

    # The report labels it from the registry entry.
    _run(["-m", "ramt.report", str(tmp_path / "out"), "--no-plots", "--out", str(tmp_path / "rep")], env)
    table = (tmp_path / "rep" / "fewshot_table.md").read_text()
    assert "| ToyTip+R-AMT [tiny]" in table


HOST_FILE = '''
"""Toy host method with a family of its own (its trainer would live here too)."""
import os

from ramt.methods import Method, fixed, register_method

register_method(
    Method(
        "toy_host",
        ("ToyHost",),
        fixed("ToyHost"),
        ("ToyHost",),
        config=os.path.join(os.path.dirname(__file__), "toyhost_vit_b16.yaml"),
        script="scripts/combination.sh toy_host",
        family="Toy family",
    )
)
'''


def test_plugin_host_with_a_new_family_needs_no_other_file(tmp_path):
    """Registered from one plugin file: the run-folder command, ``--status``, the report's tables and
    plots all handle the new method and its new family (a fixed palette colour)."""
    from tests.report.fabricate import make_cfg, write_run

    plugin = tmp_path / "plugin"
    plugin.mkdir()
    (plugin / "toy_host.py").write_text(textwrap.dedent(HOST_FILE))
    (plugin / "toyhost_vit_b16.yaml").write_text("OPTIM:\n  MAX_EPOCH: 1\n")
    out = tmp_path / "out"
    env = dict(os.environ, PYTHONPATH=REPO, RAMT_PLUGINS=str(plugin / "toy_host.py"), OUTPUT=str(out))

    info = _run(["-m", "ramt.methods", "info", "toy_host"], env).split("\n")
    assert "family Toy family" in info and "role host" in info
    folder = _run(
        ["-m", "ramt.methods", "run-dir", "toy_host", "caltech101", "2", "1", "MODEL.BACKBONE.NAME", "tiny"],
        env,
    )
    assert folder.strip() == str(out / "caltech101/ToyHost/toyhost_tiny_2shots/seed1")
    write_run(
        out / "caltech101/ToyHost/toyhost_tiny_2shots/seed1",
        make_cfg("ToyHost", "caltech101", 2, 1, backbone="tiny"),
        result=60.0,
    )

    grid = ["--methods", "toy_host", "--datasets", "caltech101", "--shots", "2", "--seeds", "1,2"]
    status = _run(
        ["-m", "ramt.sweep", "--status", *grid, "--extra", "MODEL.BACKBONE.NAME tiny", "--output", str(out)],
        env,
    )
    row = next(line.split() for line in status.splitlines() if line.startswith("toy_host"))
    assert row[1:4] == ["1", "0", "1"]  # done, crashed, missing: its folders are known, not "unknown"

    _run(["-m", "ramt.report", str(out), "--out", str(tmp_path / "rep")], env)
    table = (tmp_path / "rep" / "fewshot_table.md").read_text()
    assert "| ToyHost [tiny]† | 60.00 ± 0.00 (1) |" in table
    assert (tmp_path / "rep" / "fewshot_caltech101.png").is_file()
    style = _run(
        [
            "-c",
            "from ramt.methods import load_plugins, family_colour, FAMILY_COLOURS; load_plugins(); "
            "from ramt.report.plots import row_style; "
            "c = row_style([('ToyHost', 'tiny', 'default')])[('ToyHost', 'tiny', 'default')]['color']; "
            "print(c == family_colour('Toy family'), c in FAMILY_COLOURS.values())",
        ],
        env,
    )
    assert style.split() == ["True", "False"]
