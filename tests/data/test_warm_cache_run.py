"""Warm caches: a second run of the same seed opens no dataset image and trains to the same masks."""

from __future__ import annotations

import os

import numpy as np
import torch
from PIL import Image

from ramt.data.image_cache import clear_open_caches
from ramt.engine.checkpoint import load_checkpoint
from ramt.train import cli


def _run(out, data, cache) -> dict:
    argv = [
        "--root", data, "--seed", "1", "--trainer", "RAMT",
        "--dataset-config-file", "digits", "--config-file", "RAMT/digits_vit_b16", "--output-dir", str(out),
        "MODEL.BACKBONE.NAME", "tiny", "DATASET.NUM_SHOTS", "2", "OPTIM.MAX_EPOCH", "2", "OPTIM.LR", "0.006",
        "TEST.SPLIT", "val", "TRAIN.TENSORBOARD", "False", "CACHE_DIR", str(cache),
    ]  # fmt: skip
    assert cli(argv) == 0
    state = load_checkpoint(os.path.join(out, "shared", "model.pth.tar-2"))["state_dict"]
    return {m["name"]: m["bits"] for m in state["masks"]}  # the packed binary masks


def _same(a, b) -> bool:
    return torch.equal(a, b) if torch.is_tensor(a) else bool(np.array_equal(np.asarray(a), np.asarray(b)))


def test_warm_run_opens_no_image_and_trains_to_the_same_masks(tmp_path, digits_root, monkeypatch):
    clear_open_caches()
    cold = _run(tmp_path / "cold", digits_root, tmp_path / "cache")
    clear_open_caches()  # a fresh process: the caches are read from disk
    opened: list[str] = []
    real_open = Image.open

    def counting_open(fp, *args, **kwargs):
        opened.append(str(fp))
        return real_open(fp, *args, **kwargs)

    monkeypatch.setattr(Image, "open", counting_open)
    warm = _run(tmp_path / "warm", digits_root, tmp_path / "cache")
    clear_open_caches()
    assert opened == []
    assert cold.keys() == warm.keys() and cold
    for k in cold:
        assert _same(cold[k], warm[k]), k


def test_without_the_cache_the_run_decodes_images(tmp_path, digits_root, monkeypatch):
    """The counter above is not vacuous: with DATALOADER.IMAGE_CACHE False images are opened."""
    clear_open_caches()
    opened: list[str] = []
    real_open = Image.open
    monkeypatch.setattr(Image, "open", lambda fp, *a, **k: opened.append(str(fp)) or real_open(fp, *a, **k))
    argv = [
        "--root", digits_root, "--seed", "1", "--trainer", "RAMT",
        "--dataset-config-file", "digits", "--config-file", "RAMT/digits_vit_b16",
        "--output-dir", str(tmp_path / "off"), "MODEL.BACKBONE.NAME", "tiny", "DATASET.NUM_SHOTS", "2",
        "OPTIM.MAX_EPOCH", "1", "TEST.SPLIT", "val", "TRAIN.TENSORBOARD", "False",
        "DATALOADER.IMAGE_CACHE", "False", "CACHE_DIR", str(tmp_path / "cache"),
    ]  # fmt: skip
    assert cli(argv) == 0
    assert len(opened) >= 20  # 20 training images per epoch
