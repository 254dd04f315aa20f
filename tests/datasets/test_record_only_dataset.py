"""Acceptance (issue 17): a dataset in CoOp's split format is one catalogue record and nothing else."""

from __future__ import annotations

import json
import os

import pytest

import ramt.clip.templates  # noqa: F401  (imported before the record is registered, as in a long session)
from ramt import catalogue as sources
from ramt.catalogue import DatasetSource, register_dataset
from ramt.train import cli
from tests.fixtures.data_fixtures import write_coop_dataset

TOY = DatasetSource(
    name="toyshapes",
    registry="ToyShapes",
    title="Toy shapes (a test dataset in CoOp's split format)",
    folder="toy-shapes",
    image_prefix="images",
    layout="json",
    split_file="split_toy.json",
    expected=None,
    template="a photo of a {}, a toy shape.",
)


@pytest.fixture
def toy_root(tmp_path, monkeypatch):
    monkeypatch.setitem(sources.CATALOGUE, TOY.name, TOY)  # removed again after the test
    register_dataset(TOY)  # the one record (idempotent for the same record)
    ds = write_coop_dataset(tmp_path / "data", name="toyshapes", n_classes=3, n_train=4, n_val=2, n_test=3)
    assert os.path.isfile(ds.split_path)
    return ds.root


def _run(trainer, config, root, out, *extra):
    argv = [
        "--root", root, "--seed", "1", "--trainer", trainer, "--dataset-config-file", "toyshapes",
        "--config-file", config, "--output-dir", str(out), *extra,
        "MODEL.BACKBONE.NAME", "tiny", "DATASET.NUM_SHOTS", "2", "OPTIM.MAX_EPOCH", "1",
        "TRAIN.TENSORBOARD", "False", "DATALOADER.NUM_WORKERS", "0",
    ]  # fmt: skip
    assert cli(argv) == 0
    with open(os.path.join(out, "results.json")) as f:
        return json.load(f)


def test_record_only_dataset_trains_zero_shot_and_ramt_by_name(toy_root, tmp_path):
    zs = _run("ZeroshotCLIP", "ZeroshotCLIP/vit_b16", toy_root, tmp_path / "zs", "--eval-only")
    ramt = _run("RAMT", "RAMT/vit_b16", toy_root, tmp_path / "ramt")
    for res in (zs, ramt):
        assert (res["dataset"], res["dataset_config"]) == ("ToyShapes", "toyshapes")
        assert 0.0 <= res["metrics"]["accuracy"] <= 100.0
    log = open(tmp_path / "ramt" / "log.txt").read()
    assert "Prompt template: 'a photo of a {}, a toy shape.'" in log  # the record's template
    assert "# test     9" in log and "# train_x  6" in log  # 3 classes x 2 shots


def test_a_clashing_record_is_refused():
    clash = DatasetSource(
        name="dtd2", registry="DescribableTextures", title="x", folder="x", image_prefix="", layout="json",
        split_file="s.json", expected=None,
    )  # fmt: skip
    with pytest.raises(ValueError, match="clashes"):
        register_dataset(clash)
    assert "dtd2" not in sources.CATALOGUE
