"""python -m ramt.compare: paired statistics checked against slow references, decided on numbers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ramt.compare import (
    CompareError,
    compare_runs,
    load_runs,
    main,
    mcnemar_p,
    outlier_seeds,
    sign_test,
    stratified_bootstrap,
)
from tests.fixtures.predictions import write_pred_run

N = 5000


def _exact_mcnemar(b: int, c: int) -> float:
    """Two-sided exact McNemar by hand: binomial tail of min(b, c) out of b + c at p = 1/2."""
    n = b + c
    tail = sum(math.comb(n, i) for i in range(min(b, c) + 1)) / 2**n
    return min(1.0, 2 * tail)


def _slow_bootstrap(diffs, weights, n_boot, rng):
    """One resample at a time, one stratum after the other (the stream the vectorised loop uses)."""
    out = np.zeros(n_boot)
    for d, w in zip(diffs, weights):
        for i in range(n_boot):
            idx = rng.integers(0, len(d), size=len(d))
            out[i] += w * sum(d[j] for j in idx) / len(d)
    return out


def _pair(seed: int, kind: str, size: float = 0.02):
    """A's and B's correctness on N items: B loses ``size`` of A's hits (consistent) or differs at random."""
    rng = np.random.default_rng(100 + seed)
    a = rng.random(N) < 0.7
    b = a.copy()
    k = int(size * N)
    if kind == "consistent":
        b[rng.choice(np.flatnonzero(a), k, replace=False)] = False
    else:  # the same number of changed items, each one's direction a fair coin
        ups = int(rng.binomial(k, 0.5))
        b[rng.choice(np.flatnonzero(a), k - ups, replace=False)] = False
        b[rng.choice(np.flatnonzero(~a), ups, replace=False)] = True
    return a, b


def _tree(tmp_path, kind, seeds=(1, 2, 3), **b_kw):
    for s in seeds:
        a, b = _pair(s, kind)
        write_pred_run(tmp_path / "A" / f"seed{s}", a, seed=s)
        write_pred_run(tmp_path / "B" / f"seed{s}", b, seed=s, trainer="CoOp", **b_kw)
    return tmp_path / "A", tmp_path / "B"


def test_ci_and_p_values_match_slow_references(tmp_path):
    a_dir, b_dir = _tree(tmp_path, "consistent", seeds=(1, 2))
    (comp,) = compare_runs(load_runs(str(a_dir)), load_runs(str(b_dir)), n_boot=300, seed=7)
    diffs, weights = [], []
    for s, row in zip((1, 2), comp.rows):
        a, b = _pair(s, "consistent")
        assert row.p_mcnemar == pytest.approx(
            _exact_mcnemar(int(np.sum(a & ~b)), int(np.sum(~a & b))), rel=1e-9
        )
        assert row.delta == pytest.approx(100 * (a.mean() - b.mean()))
        diffs.append(a.astype(int) - b.astype(int))
        weights.append(0.5)
    ref = 100 * _slow_bootstrap(diffs, weights, 300, np.random.default_rng(7))
    assert comp.ci == pytest.approx((np.quantile(ref, 0.025), np.quantile(ref, 0.975)), abs=1e-9)
    fast = stratified_bootstrap(diffs, weights, 300, np.random.default_rng(7), chunk=64)
    assert fast == pytest.approx(ref / 100, abs=1e-12)
    k, n, p = sign_test([r.delta for r in comp.rows])
    assert (k, n) == (2, 2) and p == pytest.approx(2 * 0.5**2)


def test_mcnemar_small_table_by_hand():
    a = np.array([1, 1, 1, 1, 1, 0, 0, 1], bool)
    b = np.array([0, 0, 0, 0, 1, 0, 1, 1], bool)  # A only: 4, B only: 1
    assert mcnemar_p(a, b) == pytest.approx(_exact_mcnemar(4, 1))


def test_consistent_two_percent_is_better(tmp_path, capsys):
    a_dir, b_dir = _tree(tmp_path, "consistent")
    assert main([str(a_dir), str(b_dir), "--n-boot", "1000"]) == 0
    out = capsys.readouterr().out
    assert "verdict: A is better than B at level 0.05" in out
    assert out.count("+2.00") >= 3  # per-seed delta


def test_random_noise_of_same_size_is_not_distinguishable(tmp_path, capsys):
    a_dir, b_dir = _tree(tmp_path, "noise")
    (comp,) = compare_runs(load_runs(str(a_dir)), load_runs(str(b_dir)), n_boot=1000)
    assert sum(r.a_only + r.b_only for r in comp.rows) == 3 * int(0.02 * N)  # same average size of change
    assert comp.verdict == "not distinguishable"
    assert comp.ci[0] < 0 < comp.ci[1]
    assert main([str(a_dir), str(b_dir), "--n-boot", "1000"]) == 0
    assert "not distinguishable from B at level 0.05" in capsys.readouterr().out


@pytest.mark.parametrize("field,value", [("fingerprint", "split-fp-OTHER"), ("sha256", "cd" * 32)])
def test_pairing_different_split_or_backbone_names_both(tmp_path, capsys, field, value):
    a_dir, b_dir = _tree(tmp_path, "consistent", seeds=(1,), **{field: value})
    with pytest.raises(CompareError) as e:
        compare_runs(load_runs(str(a_dir)), load_runs(str(b_dir)))
    msg = str(e.value)
    assert msg.startswith("ERROR:") and str(a_dir / "seed1") in msg and str(b_dir / "seed1") in msg
    assert main([str(a_dir), str(b_dir)]) == 2
    assert "ERROR: cannot pair" in capsys.readouterr().err


def test_different_test_labels_refused(tmp_path):
    a, b = _pair(1, "consistent")
    write_pred_run(tmp_path / "A" / "seed1", a)
    write_pred_run(tmp_path / "B" / "seed1", b, trainer="CoOp", labels=(np.arange(N) + 3) % 10)
    with pytest.raises(CompareError, match="different test sets"):
        compare_runs(load_runs(str(tmp_path / "A")), load_runs(str(tmp_path / "B")))


def test_run_without_predictions_is_named(tmp_path):
    a, b = _pair(1, "consistent")
    write_pred_run(tmp_path / "A" / "seed1", a)
    (tmp_path / "A" / "seed1" / "predictions.npz").unlink()
    with pytest.raises(CompareError, match="no predictions.npz") as e:
        load_runs(str(tmp_path / "A"))
    assert str(tmp_path / "A" / "seed1") in str(e.value)


def test_predictions_disagreeing_with_results_is_loud(tmp_path):
    a, _b = _pair(1, "consistent")
    write_pred_run(tmp_path / "A" / "seed1", a)
    other = tmp_path / "other"
    write_pred_run(other, ~a)
    (other / "predictions.npz").replace(tmp_path / "A" / "seed1" / "predictions.npz")
    with pytest.raises(CompareError, match="different evaluations"):
        load_runs(str(tmp_path / "A"))


def test_zero_shot_side_pairs_with_every_seed(tmp_path):
    a_dir, _ = _tree(tmp_path, "consistent")
    zs, _ = _pair(1, "consistent")
    write_pred_run(tmp_path / "ZS" / "digits", zs, trainer="ZeroshotCLIP", shots=-1, seed=1)
    (comp,) = compare_runs(load_runs(str(a_dir)), load_runs(str(tmp_path / "ZS")), n_boot=200)
    assert [r.seed for r in comp.rows] == [1, 2, 3] and comp.shots == 4


def test_seed_health_flags_a_wild_seed_and_recomputes():
    # the CoOp DTD report: 12 %, 15 % and 63 % over three seeds
    assert outlier_seeds({1: 12.0, 2: 15.0, 3: 63.0}) == [3]
    assert outlier_seeds({1: 69.86, 2: 70.12, 3: 69.84}, floor=0.65) == []
    assert outlier_seeds({1: 50.0, 2: 51.0}) == []  # two seeds cannot be judged


def test_verdict_without_outlier_seed(tmp_path, capsys):
    for s in (1, 2, 3):
        a, b = _pair(s, "consistent")
        if s == 3:  # a collapsed A seed: far worse than B
            a = np.zeros(N, bool)
        write_pred_run(tmp_path / "A" / f"seed{s}", a, seed=s)
        write_pred_run(tmp_path / "B" / f"seed{s}", b, seed=s, trainer="CoOp")
    (comp,) = compare_runs(load_runs(str(tmp_path / "A")), load_runs(str(tmp_path / "B")), n_boot=300)
    assert comp.outliers == {"A": [3]}
    assert comp.verdict == "worse" and comp.without_outliers.verdict == "better"
    assert main([str(tmp_path / "A"), str(tmp_path / "B"), "--n-boot", "300"]) == 0
    assert "without them:" in capsys.readouterr().out


def test_across_datasets_weights_datasets_equally(tmp_path):
    for ds, drop in (("Digits", 100), ("Caltech101", 0)):
        for s in (1, 2):
            a = np.random.default_rng(s).random(N) < 0.7
            b = a.copy()
            b[np.flatnonzero(a)[:drop]] = False
            write_pred_run(tmp_path / "A" / ds / f"seed{s}", a, seed=s, dataset=ds)
            write_pred_run(tmp_path / "B" / ds / f"seed{s}", b, seed=s, dataset=ds, trainer="CoOp")
    comps = compare_runs(
        load_runs(str(tmp_path / "A")), load_runs(str(tmp_path / "B")), n_boot=300, across=True
    )
    assert [c.dataset for c in comps] == ["Caltech101", "Digits", "all"]
    assert comps[-1].delta == pytest.approx(1.0)  # (2 pp + 0 pp) / 2 datasets
