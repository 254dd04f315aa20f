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
