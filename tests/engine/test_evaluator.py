import numpy as np
import pytest
import torch
from sklearn.metrics import f1_score

from ramt.config import get_cfg_default
from ramt.engine.evaluator import Classification, macro_f1


def test_macro_f1_matches_sklearn_on_present_labels():
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 5, 200)
    y_pred = np.where(rng.random(200) < 0.6, y_true, rng.integers(0, 7, 200))  # predicts absent labels too
    expected = f1_score(y_true, y_pred, labels=np.unique(y_true), average="macro")
    assert macro_f1(y_true, y_pred) == pytest.approx(expected)


def test_classification_result_block_and_per_class(tmp_path, capsys):
    cfg = get_cfg_default()
    cfg.TEST.PER_CLASS_RESULT = True
    cfg.TEST.COMPUTE_CMAT = True
    cfg.OUTPUT_DIR = str(tmp_path)
    ev = Classification(cfg, lab2cname={0: "cat", 1: "dog"})
    logits = torch.tensor([[2.0, 1.0], [0.0, 1.0], [3.0, 0.0], [1.0, 2.0]])
    labels = torch.tensor([0, 1, 1, 1])
    ev.process(logits, labels)
    res = ev.evaluate()
    out = capsys.readouterr().out
    assert res["accuracy"] == pytest.approx(75.0) and res["error_rate"] == pytest.approx(25.0)
    assert (
        "=> result\n* total: 4\n* correct: 3\n* accuracy: 75.00%\n* error: 25.00%\n* macro_f1: 73.33%" in out
    )
    assert "* class: 1 (dog)\ttotal: 3\tcorrect: 2\tacc: 66.67%" in out
    assert "* average: 83.33%" in out
    cmat = torch.load(tmp_path / "cmat.pt", weights_only=True)
    assert torch.allclose(cmat, torch.tensor([[1.0, 0.0], [1 / 3, 2 / 3]], dtype=torch.float64))


def test_ece_and_nll_match_a_hand_computed_case(tmp_path):
    cfg = get_cfg_default()
    cfg.OUTPUT_DIR = str(tmp_path)
    ev = Classification(cfg, lab2cname={0: "cat", 1: "dog"})
    probs = torch.tensor([[0.95, 0.05], [0.82, 0.18], [0.3, 0.7], [0.39, 0.61]])
    labels = torch.tensor([0, 1, 1, 1])  # right, wrong (confident), right, right
    ev.process(probs.log(), labels)
    ev.evaluate()
    cal = ev.details["calibration"]
    # one image per 1/15-wide bin: ECE = mean |accuracy - confidence|
    assert cal["ece"] == pytest.approx(100 * (0.05 + 0.82 + 0.3 + 0.39) / 4, abs=1e-6)
    assert cal["nll"] == pytest.approx(
        -(np.log(0.95) + np.log(0.18) + np.log(0.7) + np.log(0.61)) / 4, abs=1e-6
    )
    assert cal["n_bins"] == 15 and cal["bins"]["count"][12] == 1 and cal["bins"]["accuracy"][12] == 0.0
    assert cal["bins"]["confidence"][14] == pytest.approx(0.95)
    worst = ev.details["per_class"]["worst"]
    assert worst[0] == {"label": 1, "name": "dog", "accuracy": pytest.approx(66.6667, abs=1e-3)}


def test_ece_equals_torchmetrics_multiclass_on_full_softmax(tmp_path):
    from torchmetrics.classification import MulticlassCalibrationError

    cfg = get_cfg_default()
    cfg.OUTPUT_DIR = str(tmp_path)
    ev = Classification(cfg)
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(300, 7, generator=g) * 2
    labels = torch.randint(0, 7, (300,), generator=g)
    for i in range(0, 300, 64):  # several batches
        ev.process(logits[i : i + 64], labels[i : i + 64])
    res = ev.evaluate()
    ref = MulticlassCalibrationError(num_classes=7, n_bins=15, norm="l1")(logits.softmax(1), labels)
    assert ev.details["calibration"]["ece"] == pytest.approx(100 * float(ref), abs=1e-4)
    nll = torch.nn.functional.cross_entropy(logits, labels)
    assert ev.details["calibration"]["nll"] == pytest.approx(float(nll), abs=1e-5)
    p = ev.predictions
    assert (p["pred"] == logits.argmax(1).numpy()).all() and (p["label"] == labels.numpy()).all()
    assert (p["topk_ids"] == logits.topk(5, 1).indices.numpy()).all()
    assert np.allclose(p["topk_probs"], logits.softmax(1).topk(5, 1).values.numpy(), atol=1e-6)
    assert res["accuracy"] == pytest.approx(100 * float((logits.argmax(1) == labels).float().mean()))


def test_process_does_not_sync_with_the_host(monkeypatch, tmp_path):
    """The per-batch path keeps everything on the device; one transfer happens in evaluate()."""
    cfg = get_cfg_default()
    cfg.OUTPUT_DIR = str(tmp_path)
    ev = Classification(cfg)

    def host_sync(*_a, **_k):
        raise AssertionError("process() moved data to the host")

    for name in ("item", "tolist", "cpu", "numpy"):
        monkeypatch.setattr(torch.Tensor, name, host_sync)
    for _ in range(3):
        ev.process(torch.randn(8, 6), torch.randint(0, 6, (8,)))
    monkeypatch.undo()
    assert ev.evaluate()["accuracy"] >= 0 and len(ev.predictions["label"]) == 24
