"""Linear-probe CLIP: lpclip's C search (against the authors' script), the fit as a run, the feature cache."""

import json
import os

import numpy as np
import pytest
import torch

import ramt.trainers  # noqa: F401  (registers the trainers)
from ramt.trainers.linear_probe import fit_logistic, linear_from_sklearn, search_c
from tests.fixtures.faithfulness import load_fixture
from tests.fixtures.trainer_fixtures import build, method_cfg

CFG = {"DATASET.NUM_SHOTS": 4}


@pytest.fixture
def root5(tmp_path, make_coop_dataset):
    make_coop_dataset(tmp_path / "data", name="caltech101", n_classes=5, n_train=4, n_val=2, n_test=3)
    return tmp_path / "data"


def test_search_matches_the_authors_script(tmp_path, root5):
    """Same grid accuracies, rounds, chosen C and test accuracy as CoOp's lpclip/linear_probe.py."""
    arrays, meta = load_fixture("linear_probe")
    assert len(meta["upstream_commit"]) == 40
    trainer = build(method_cfg("LinearProbeCLIP", root5, tmp_path / "o"))
    feats = {
        s: (arrays[f"{s}/features"].numpy(), arrays[f"{s}/labels"].numpy()) for s in ("train", "val", "test")
    }
    trainer.features = lambda split: feats[split]
    record = trainer.fit()
    assert record["C"] == pytest.approx(meta["chosen_C"], rel=1e-12)
    assert record["grid_val_acc"] == pytest.approx(meta["grid_val_acc"])
    assert len(record["rounds"]) == meta["num_step"]
    for ours, theirs in zip(record["rounds"], meta["rounds"]):
        assert (ours["left"], ours["right"]) == pytest.approx((theirs["left"], theirs["right"]), rel=1e-9)
        assert 100 * ours["acc_left"] == pytest.approx(theirs["acc_left"])
        assert 100 * ours["acc_right"] == pytest.approx(theirs["acc_right"])
    x_test, y_test = feats["test"]
    with torch.no_grad():
        pred = trainer.head(torch.from_numpy(x_test)).argmax(1).numpy()
    assert round(100 * float(np.mean(pred == y_test)), 2) == pytest.approx(meta["test_accuracy"], abs=0.006)


def test_search_rules():
    acc = {1.0: 0.5, 0.1: 0.5, 10.0: 0.5}
    chosen, record = search_c(lambda c: acc.get(c, 0.2), [1.0, 0.1], 1)
    assert record["peak"] == 1.0 and chosen == pytest.approx(0.1)  # a tie keeps the left end
    chosen, _ = search_c(lambda c: 1.0 if c > 5 else 0.5, [1.0], 1)
    assert chosen == pytest.approx(10.0)  # a better right end wins
    assert search_c(lambda c: float(c == 1e-2), [1.0, 1e-2], 0)[0] == 1e-2  # no rounds: the grid's best


def test_two_class_classifier_matches_predict():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20, 4))
    y = np.array([0, 2] * 10)  # two of three classes present
    clf = fit_logistic(x, y, 1.0, 1000)
    logits = linear_from_sklearn(clf, 3)(torch.from_numpy(x)).numpy()
    assert np.array_equal(logits.argmax(1), clf.predict(x))
    assert np.all(np.isneginf(logits[:, 1]))  # an absent class is never predicted


def test_fit_is_a_run_and_features_come_from_the_cache(tmp_path, root5, monkeypatch):
    cfg = method_cfg("LinearProbeCLIP", root5, tmp_path / "a", **CFG)
    trainer = build(cfg)
    assert trainer.max_epoch == 0
    trainer.train()
    res = json.load(open(tmp_path / "a" / "results.json"))
    assert res["method"] == "LinearProbeCLIP" and res["extra"]["lp_C"] == trainer.lp_record["C"]
    assert res["extra"]["lp"]["train_size"] == 5 * 4 and res["extra"]["lp"]["val_size"] == 5 * 2
    assert os.path.isfile(tmp_path / "a" / "classifier" / "model.pth.tar-1")
    acc = res["metrics"]["accuracy"]

    # The same experiment again: every feature comes from the cache (the encoder is never run).
    again = build(method_cfg("LinearProbeCLIP", root5, tmp_path / "b", **CFG))
    monkeypatch.setattr(again, "encode", lambda images: pytest.fail("features were recomputed"))
    again.train()
    assert again.lp_record["C"] == trainer.lp_record["C"]
    assert json.load(open(tmp_path / "b" / "results.json"))["metrics"]["accuracy"] == acc

    # Evaluation only: the saved classifier gives the same result.
    loaded = build(method_cfg("LinearProbeCLIP", root5, tmp_path / "c", **CFG))
    loaded.load_model(str(tmp_path / "a"))
    assert loaded.test() == pytest.approx(acc)


def test_train_features_are_unaugmented(tmp_path, root5):
    trainer = build(
        method_cfg("LinearProbeCLIP", root5, tmp_path / "o", **CFG, **{"SPEED.FEATURE_CACHE": False})
    )
    x1, y1 = trainer.features("train")
    x2, _ = trainer.features("train")
    assert x1.shape[0] == len(trainer.dm.dataset.train_x) == 20
    assert np.array_equal(x1, x2)  # the train loader's random crops would differ
