"""Tip-Adapter(-F) on the tiny CLIP: cache, logits formula, val-only search, what Tip-F trains."""

import json

import pytest
import torch
import torch.nn.functional as F

from ramt.clip import load_clip
from ramt.config import get_cfg_default
from ramt.trainers.tip_adapter import (
    HPARAMS_FILE,
    resolve_tip_settings,
    search_grid,
    search_hparams,
    tip_logits,
)
from tests.fixtures.trainer_fixtures import build, method_cfg, snapshot

FAST = {"TRAINER.TIP.AUGMENT_EPOCH": 2}


def tip_cfg(root, out, **opts):
    return method_cfg("TipAdapter", root, out, **{**FAST, **opts})


class NeverIterate:
    """Stands in for the test loader: any use fails the test."""

    def __iter__(self):
        raise AssertionError("the test split was read during the hyper-parameter search")

    def __len__(self):
        raise AssertionError("the test split was read during the hyper-parameter search")


def test_cache_shapes_and_values(tmp_path, data_root):
    trainer = build(tip_cfg(data_root, tmp_path / "o"))
    nk = 2 * 3  # shots x classes
    assert trainer.cache_keys.shape == (nk, trainer.text_weights.shape[1])
    assert torch.allclose(trainer.cache_keys.norm(dim=-1), torch.ones(nk), atol=1e-5)
    assert trainer.cache_values.shape == (nk, 3)
    labels = torch.tensor([d.label for d in trainer.dm.dataset.train_x])
    assert torch.equal(trainer.cache_values, F.one_hot(labels, 3).float())
    assert trainer.text_weights.shape[0] == 3
    assert trainer.max_epoch == 0 and trainer.get_model_names() == []


def test_cache_is_deterministic_and_averages_passes(tmp_path, data_root):
    cfg = tip_cfg(data_root, tmp_path / "o", **{"SPEED.FEATURE_CACHE": False})
    a = build(cfg).cache_keys
    b = build(cfg).cache_keys
    assert torch.equal(a, b)
    one = build(
        tip_cfg(data_root, tmp_path / "o", **{"SPEED.FEATURE_CACHE": False, "TRAINER.TIP.AUGMENT_EPOCH": 1})
    )
    assert not torch.allclose(one.cache_keys, a)  # two augmented passes are averaged


def test_logits_formula_matches_manual(tmp_path, data_root):
    trainer = build(tip_cfg(data_root, tmp_path / "o"))
    f = F.normalize(torch.randn(5, trainer.text_weights.shape[1]), dim=-1)
    alpha, beta = 1.7, 4.2
    W, Fk, L = trainer.text_weights, trainer.cache_keys, trainer.cache_values
    manual = 100.0 * f @ W.t() + alpha * torch.exp(-beta * (1 - f @ Fk.t())) @ L
    assert torch.allclose(trainer.head(f, alpha, beta), manual, atol=1e-4)
    assert torch.allclose(tip_logits(f, W, f @ Fk.t(), L, alpha, beta), manual, atol=1e-4)


def test_search_grid_and_first_strict_improvement():
    grid = search_grid(7.0, 200)
    assert len(grid) == 200 and grid[0] == pytest.approx(0.1) and grid[-1] < 7.0
    assert grid[1] == pytest.approx(0.1 + 6.9 / 200)
    # Zero-shot logits already right for both samples: every grid point ties -> the first one wins.
    zs = torch.tensor([[5.0, 0.0], [0.0, 5.0]])
    aff = torch.tensor([[1.0], [1.0]])
    values = torch.tensor([[1.0, 0.0]])
    labels = torch.tensor([0, 1])
    beta, alpha, acc = search_hparams(zs, aff, values, labels, [0.5, 1.0], [0.1, 1.0, 10.0])
    assert (beta, alpha, acc) == (0.5, 0.1, 100.0)
    # Only a large alpha fixes sample 1 (label 0 wanted there).
    labels = torch.tensor([0, 0])
    beta, alpha, acc = search_hparams(zs, aff, values, labels, [0.5, 1.0], [0.1, 1.0, 10.0])
    assert (beta, alpha, acc) == (0.5, 10.0, 100.0)


def test_search_reads_only_the_val_split(tmp_path, data_root):
    trainer = build(tip_cfg(data_root, tmp_path / "o"))
    trainer.dm.__dict__["test_loader"] = NeverIterate()
    seen = []
    original = trainer.split_features

    def spy(split, *a, **k):
        seen.append(split)
        return original(split, *a, **k)

    trainer.split_features = spy
    hp = trainer.search()
    trainer.before_test("test")  # the search + record the trainer does before the test
    assert set(seen) == {"val"}
    assert hp["searched"] and hp["search_split"] == "val"
    record = json.load(open(tmp_path / "o" / HPARAMS_FILE))
    assert record["beta"] == trainer.extra_results["tip_beta"]
    assert record["alpha"] == trainer.extra_results["tip_alpha"]


def test_search_off_uses_initial_values(tmp_path, data_root):
    trainer = build(
        tip_cfg(data_root, tmp_path / "o", **{"TRAINER.TIP.SEARCH_HP": False, "TRAINER.TIP.INIT_ALPHA": 2.5})
    )
    hp = trainer.search()
    assert (hp["alpha"], hp["beta"], hp["searched"]) == (2.5, 1.0, False)


def test_per_dataset_settings_apply_to_default_keys():
    cfg = get_cfg_default()
    cfg.DATASET.NAME = "EuroSAT"
    s = resolve_tip_settings(cfg)
    assert s["TRAIN_EPOCH"][0] == 100 and "policy table" in s["TRAIN_EPOCH"][1]
    assert s["INIT_ALPHA"][0] == 2.0 and s["SEARCH_SCALE"][0] == (12.0, 10.0)
    cfg.TRAINER.TIP.INIT_ALPHA = 4.0
    s = resolve_tip_settings(cfg)
    assert s["INIT_ALPHA"] == (4.0, "config")
    cfg.DATASET.NAME = "Digits"
    assert "default" in resolve_tip_settings(cfg)["TRAIN_EPOCH"][1]


def test_tip_f_trains_only_the_keys(tmp_path, data_root):
    out = tmp_path / "o"
    trainer = build(tip_cfg(data_root, out, **{"TRAINER.TIP.FINETUNE": True, "TRAINER.TIP.TRAIN_EPOCH": 2}))
    assert trainer.get_model_names() == ["adapter"] and trainer.max_epoch == 2
    assert trainer.adapter.bias is None
    assert torch.equal(trainer.adapter.weight.detach(), trainer.cache_keys)
    optim = trainer._optims["adapter"]
    params = [p for g in optim.param_groups for p in g["params"]]
    assert len(params) == 1 and params[0] is trainer.adapter.weight
    assert optim.defaults["eps"] == 1e-4 and optim.defaults["lr"] == 1e-3
    assert trainer.train_loader_x.batch_size == 256 and not trainer.train_loader_x.drop_last
    keys, values, text = (
        trainer.cache_keys.clone(),
        trainer.cache_values.clone(),
        trainer.text_weights.clone(),
    )
    encoder = snapshot(trainer.image_encoder)
    trainer.train()
    assert not torch.equal(trainer.adapter.weight.detach(), keys)
    assert torch.equal(trainer.cache_keys, keys) and torch.equal(trainer.cache_values, values)
    assert torch.equal(trainer.text_weights, text)
    plain = load_clip("tiny").visual.state_dict()
    for k, v in trainer.image_encoder.state_dict().items():
        assert torch.equal(v, encoder[k]) and torch.equal(v, plain[k]), k
    assert trainer._scheds["adapter"].get_last_lr()[0] == pytest.approx(0.0, abs=1e-12)  # cosine to 0
    res = json.load(open(out / "results.json"))
    assert res["method"] == "Tip-Adapter-F"
    assert res["extra"]["tip"]["search_split"] == "val"
    assert (out / "adapter" / "model.pth.tar-2").is_file()


def test_explicit_value_equal_to_the_old_default_is_honoured():
    """Only the sentinel -1 means "use the table": an explicit 20 epochs on EuroSAT (table: 100) stays 20."""
    cfg = get_cfg_default()
    cfg.DATASET.NAME = "EuroSAT"
    cfg.TRAINER.TIP.TRAIN_EPOCH = 20
    cfg.TRAINER.TIP.INIT_ALPHA = 1.0
    s = resolve_tip_settings(cfg)
    assert s["TRAIN_EPOCH"] == (20, "config") and s["INIT_ALPHA"] == (1.0, "config")
    cfg.TRAINER.TIP.SEARCH_SCALE = (-1.0, 5.0)
    with pytest.raises(ValueError, match="SEARCH_SCALE"):
        resolve_tip_settings(cfg)


def test_select_val_does_not_change_the_config(tmp_path, data_root):
    cfg = tip_cfg(data_root, tmp_path / "o", **{"TRAINER.TIP.FINETUNE": True, "TRAINER.TIP.SELECT": "val"})
    cfg.freeze()
    trainer = build(cfg)
    assert trainer.final_model == "best_val" and cfg.TEST.FINAL_MODEL == "last_step"
