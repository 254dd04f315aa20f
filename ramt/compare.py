"""Paired comparison of two methods on the same test images: ``python -m ramt.compare A B``.

A and B are run folders (holding ``results.json`` and ``predictions.npz``) or group folders of an
output tree (e.g. ``output/digits/RAMT/tiny_4shots`` with ``seed1..3``). Runs are paired per
(dataset, shots, seed); a side with one run per dataset (zero-shot) is paired with every seed.
For each dataset and shot count: the accuracy difference per seed with an exact McNemar test, a
paired bootstrap CI over test images (resampled within each seed, seeds weighted equally), a sign
test across seeds and a one-line verdict. How to read them: docs/STATISTICS.md. Torch-free.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Optional

import numpy as np
from scipy.stats import binomtest, median_abs_deviation
from statsmodels.stats.contingency_tables import mcnemar

from ramt.record import RESULTS_FILE, Predictions, RecordError, RunRecord, read_predictions, read_results

__all__ = [
    "CompareError",
    "Comparison",
    "Run",
    "SeedRow",
    "accuracy_se",
    "compare_runs",
    "format_comparison",
    "load_runs",
    "main",
    "mcnemar_p",
    "outlier_seeds",
    "pair_check",
    "pooled_delta",
    "sign_test",
    "stratified_bootstrap",
    "verdict",
]

DEFAULT_LEVEL = 0.05
DEFAULT_N_BOOT = 5000
#: A seed is flagged when it is more than this many robust SDs (1.4826 * MAD) from the others' median.
OUTLIER_SDS = 3.0


class CompareError(ValueError):
    """Two sides that cannot be paired, or a run that cannot be read (message starts with ERROR:)."""


@dataclass(frozen=True)
class Run:
    """One finished run: its checked record and its per-image predictions."""

    record: RunRecord
    preds: Predictions

    @property
    def name(self) -> str:
        return self.record.run_dir

    @property
    def key(self) -> tuple[str, str]:
        return (self.record.dataset, str(self.record.raw.get("subsample_classes") or "all"))


# ---------------------------------------------------------------- statistics
def mcnemar_p(a_correct: np.ndarray, b_correct: np.ndarray) -> float:
    """Exact (binomial) McNemar p-value of two paired correctness vectors (statsmodels)."""
    a = np.asarray(a_correct, bool)
    b = np.asarray(b_correct, bool)
    table = [[int(np.sum(a & b)), int(np.sum(a & ~b))], [int(np.sum(~a & b)), int(np.sum(~a & ~b))]]
    return float(mcnemar(table, exact=True).pvalue)


def pooled_delta(diffs: Sequence[np.ndarray], weights: Sequence[float]) -> float:
    """Weighted mean over strata of each stratum's mean difference (in the diffs' unit)."""
    return float(sum(w * float(np.mean(d)) for d, w in zip(diffs, weights)))


def stratified_bootstrap(
    diffs: Sequence[np.ndarray],
    weights: Sequence[float],
    n_boot: int,
    rng: np.random.Generator,
    chunk: int = 256,
) -> np.ndarray:
    """``n_boot`` bootstrap values of ``pooled_delta``: images resampled with replacement within each stratum.

    Draws are made stratum by stratum, ``chunk`` resamples at a time, rows in order (the same
    stream as one ``rng.integers(0, n, n)`` call per resample).
    """
    out = np.zeros(n_boot)
    for d, w in zip(diffs, weights):
        d = np.asarray(d, dtype=np.float64)
        n = d.shape[0]
        for start in range(0, n_boot, chunk):
            rows = min(chunk, n_boot - start)
            idx = rng.integers(0, n, size=(rows, n))
            out[start : start + rows] += w * d[idx].mean(axis=1)
    return out


def sign_test(deltas: Sequence[float]) -> tuple[int, int, float]:
    """(#seeds with A ahead, #seeds that differ, two-sided binomial p) over per-seed differences."""
    nonzero = [d for d in deltas if d != 0]
    k = sum(1 for d in nonzero if d > 0)
    if not nonzero:
        return 0, 0, 1.0
    return k, len(nonzero), float(binomtest(k, len(nonzero), 0.5).pvalue)


def verdict(ci: tuple[float, float]) -> str:
    """ "better" when the whole CI is above 0, "worse" when below, else "not distinguishable"."""
    lo, hi = ci
    if lo > 0:
        return "better"
    if hi < 0:
        return "worse"
    return "not distinguishable"


def outlier_seeds(acc_by_seed: dict[int, float], k: float = OUTLIER_SDS, floor: float = 0.0) -> list[int]:
    """Seeds more than ``k`` robust SDs (1.4826 * MAD of the others) from the median of the others.

    The robust SD is at least ``floor`` (the test set's own sampling SE of an accuracy, so that two
    seeds agreeing to 0.01 pp do not make a 0.3 pp third seed an outlier). Needs three seeds or more;
    with ``floor`` 0, a seed whose others agree exactly (MAD 0) is not judged.
    """
    if len(acc_by_seed) < 3:
        return []
    out = []
    for seed, acc in acc_by_seed.items():
        others = np.array([v for s, v in acc_by_seed.items() if s != seed], dtype=np.float64)
        sd = max(float(median_abs_deviation(others, scale="normal")), floor)
        if sd > 0 and abs(acc - float(np.median(others))) > k * sd:
            out.append(seed)
    return sorted(out)


def accuracy_se(accs: Sequence[float], n: int) -> float:
    """The binomial standard error (pp) of an accuracy at the median of ``accs`` on ``n`` test images."""
    if not accs or n <= 0:
        return 0.0
    p = float(np.median(accs)) / 100.0
    return 100.0 * float(np.sqrt(p * (1 - p) / n))


# ---------------------------------------------------------------- runs
def load_runs(path: str) -> list[Run]:
    """The finished runs of a run folder or of every run folder under a group folder."""
    if not os.path.isdir(path):
        raise CompareError(
            f"ERROR: {path} is not a folder. Give a run folder or a group folder of an output tree."
        )
    dirs = sorted({root for root, _d, files in os.walk(path) if RESULTS_FILE in files})
    if not dirs:
        raise CompareError(
            f"ERROR: no {RESULTS_FILE} under {path}. Give a finished run folder (seed<N>) or the folder holding them."
        )
    runs, lacking = [], []
    for d in dirs:
        try:
            rec = read_results(d)
        except RecordError as e:
            raise CompareError(str(e)) from e
        ppath = rec.predictions_path
        if not ppath or not os.path.isfile(ppath):
            lacking.append(d)
            continue
        try:
            preds = read_predictions(ppath)
        except RecordError as e:
            raise CompareError(str(e)) from e
        acc = 100.0 * float(np.mean(preds.correct)) if len(preds) else 0.0
        if abs(acc - rec.accuracy) > 1e-6:
            raise CompareError(
                f"ERROR: {ppath} gives accuracy {acc:.4f}% but {rec.path} records {rec.accuracy:.4f}%. "
                "The two files are from different evaluations: re-run the evaluation of this run."
            )
        runs.append(Run(rec, preds))
    if lacking:
        raise CompareError(
            f"ERROR: {len(lacking)} run(s) under {path} have no predictions.npz (older runs): "
            + ", ".join(lacking[:5])
            + (" ..." if len(lacking) > 5 else "")
            + ". Re-run their evaluation with this version (train.py --eval-only --model-dir RUN ... writes it)."
        )
    return runs


def pair_check(a: Run, b: Run) -> None:
    """Refuse to pair runs whose split, test set or backbone differ (the error names both runs)."""
    ma, mb = a.preds.meta, b.preds.meta
    both = f"A = {a.name}, B = {b.name}"
    sa = (ma.get("split_fingerprint"), ma.get("split", "test"))
    sb = (mb.get("split_fingerprint"), mb.get("split", "test"))
    if sa != sb:
        raise CompareError(
            f"ERROR: cannot pair runs from different splits ({both}): split fingerprint / evaluated split "
            f"{sa[0]!r} / {sa[1]} and {sb[0]!r} / {sb[1]}. Compare runs made on the same split files and split."
        )
    ba = (ma.get("backbone"), ma.get("backbone_sha256"))
    bb = (mb.get("backbone"), mb.get("backbone_sha256"))
    if ba != bb:
        raise CompareError(
            f"ERROR: cannot pair runs on different backbones ({both}): {ba[0]} ({ba[1] or 'no digest'}) and "
            f"{bb[0]} ({bb[1] or 'no digest'}). Compare runs of the same backbone."
        )
    if not (np.array_equal(a.preds.index, b.preds.index) and np.array_equal(a.preds.label, b.preds.label)):
        raise CompareError(
            f"ERROR: cannot pair runs evaluated on different test sets ({both}): the test-image indices or labels "
            "differ. Compare runs of the same dataset, split and class subset."
        )


@dataclass(frozen=True)
class SeedRow:
    """One paired seed: accuracies (%), their difference (pp) and the exact McNemar test."""

    seed: Optional[int]
    acc_a: float
    acc_b: float
    delta: float
    a_only: int
    b_only: int
    p_mcnemar: float
    n: int
    run_a: str
    run_b: str


@dataclass
class Comparison:
    """A vs B on one dataset and shot count (``dataset`` "all" when pooled across datasets)."""

    dataset: str
    shots: Optional[int]
    rows: list[SeedRow]
    delta: float
    ci: tuple[float, float]
    level: float
    n_boot: int
    sign: tuple[int, int, float]
    verdict: str
    outliers: dict[str, list[int]] = field(default_factory=dict)
    without_outliers: Optional[Comparison] = None
    notes: list[str] = field(default_factory=list)


def _shots(run: Run) -> int:
    """The run's shot count; 0 for zero-shot CLIP (its config's NUM_SHOTS means nothing)."""
    if run.record.trainer.startswith("ZeroshotCLIP"):
        return 0
    return int(run.record.shots or 0)


def _group(runs: list[Run]) -> dict[tuple, list[Run]]:
    out: dict[tuple, list[Run]] = {}
    for r in runs:
        out.setdefault(r.key, []).append(r)
    return out


def _pairs(a_runs: list[Run], b_runs: list[Run]) -> tuple[list[tuple[Run, Run]], list[str]]:
    """Pair by seed; one B run (e.g. zero-shot) is paired with every A seed."""
    notes = []
    if len(b_runs) == 1 and len(a_runs) >= 1:
        pairs = [(a, b_runs[0]) for a in a_runs]
        if len(a_runs) > 1:
            notes.append(f"B has one run ({b_runs[0].name}); it is paired with every seed of A")
        return pairs, notes
    if len(a_runs) == 1 and len(b_runs) > 1:
        return [(a_runs[0], b) for b in b_runs], [
            f"A has one run ({a_runs[0].name}); paired with every seed of B"
        ]
    by_seed_b = {b.record.seed: b for b in b_runs}
    pairs = [(a, by_seed_b[a.record.seed]) for a in a_runs if a.record.seed in by_seed_b]
    unpaired = sorted(
        {r.record.seed for r in a_runs} ^ {r.record.seed for r in b_runs}, key=lambda s: (s is None, s or 0)
    )
    if unpaired:
        notes.append("seeds without a partner (left out): " + ", ".join(str(s) for s in unpaired))
    return pairs, notes


def _row(a: Run, b: Run) -> SeedRow:
    pair_check(a, b)
    ca, cb = a.preds.correct, b.preds.correct
    seed = a.record.seed if _shots(a) else b.record.seed
    return SeedRow(
        seed=seed,
        acc_a=100.0 * float(ca.mean()),
        acc_b=100.0 * float(cb.mean()),
        delta=100.0 * float(ca.mean() - cb.mean()),
        a_only=int(np.sum(ca & ~cb)),
        b_only=int(np.sum(~ca & cb)),
        p_mcnemar=mcnemar_p(ca, cb),
        n=len(a.preds),
        run_a=a.name,
        run_b=b.name,
    )


def _summarise(
    dataset: str,
    shots: Optional[int],
    strata: list[tuple[SeedRow, np.ndarray, float]],
    level: float,
    n_boot: int,
    seed: int,
) -> Comparison:
    rows = [s[0] for s in strata]
    diffs = [s[1] for s in strata]
    weights = [s[2] for s in strata]
    delta = 100.0 * pooled_delta(diffs, weights)
    boot = 100.0 * stratified_bootstrap(diffs, weights, n_boot, np.random.default_rng(seed))
    ci = (float(np.quantile(boot, level / 2)), float(np.quantile(boot, 1 - level / 2)))
    return Comparison(
        dataset=dataset,
        shots=shots,
        rows=rows,
        delta=delta,
        ci=ci,
        level=level,
        n_boot=n_boot,
        sign=sign_test([r.delta for r in rows]),
        verdict=verdict(ci),
    )


def compare_runs(
    a_runs: list[Run],
    b_runs: list[Run],
    level: float = DEFAULT_LEVEL,
    n_boot: int = DEFAULT_N_BOOT,
    seed: int = 0,
    across: bool = False,
) -> list[Comparison]:
    """One ``Comparison`` per (dataset, shots) of A (and one "all" across datasets when ``across``)."""
    ga, gb = _group(a_runs), _group(b_runs)
    out: list[Comparison] = []
    every: list[tuple[str, list[tuple[SeedRow, np.ndarray]]]] = []
    for key in sorted(ga):
        if key not in gb:
            continue
        by_shots: dict[Optional[int], list[Run]] = {}
        for r in ga[key]:
            by_shots.setdefault(_shots(r), []).append(r)
        for shots in sorted(by_shots, key=lambda s: s or 0):
            # the same shot count, else a zero-shot B (shots 0) for every shot count of A
            b_side = [r for r in gb[key] if _shots(r) == shots] or [r for r in gb[key] if _shots(r) == 0]
            pairs, notes = _pairs(by_shots[shots], b_side)
            if not pairs:
                continue
            strata = [
                (_row(a, b), a.preds.correct.astype(np.int8) - b.preds.correct.astype(np.int8))
                for a, b in pairs
            ]
            w = 1.0 / len(strata)
            comp = _summarise(key[0], shots, [(r, d, w) for r, d in strata], level, n_boot, seed)
            comp.notes = notes
            _seed_health(comp, by_shots[shots], b_side, strata, level, n_boot, seed)
            out.append(comp)
            every.append((key[0], strata))
    if not out:
        names = ", ".join(sorted({k[0] for k in ga})) or "none"
        other = ", ".join(sorted({k[0] for k in gb})) or "none"
        raise CompareError(
            f"ERROR: nothing to pair: A has datasets {names}, B has {other}. Give two sides run on the same dataset."
        )
    if across and len(every) > 1:
        pooled = [(r, d, 1.0 / len(every) / len(strata)) for _ds, strata in every for r, d in strata]
        out.append(_summarise("all", None, pooled, level, n_boot, seed))
    return out


def _seed_health(comp: Comparison, a_runs: list[Run], b_runs: list[Run], strata, level, n_boot, seed) -> None:
    """Flag outlier seeds on either side and recompute the verdict without them."""
    flagged: dict[str, list[int]] = {}
    for side, runs in (("A", a_runs), ("B", b_runs)):
        accs = {r.record.seed: r.record.accuracy for r in runs if r.record.seed is not None}
        bad = outlier_seeds(accs, floor=accuracy_se(list(accs.values()), len(runs[0].preds)) if runs else 0.0)
        if bad:
            flagged[side] = bad
    comp.outliers = flagged
    drop = {s for seeds in flagged.values() for s in seeds}
    if not drop:
        return
    keep = [(r, d) for r, d in strata if r.seed not in drop]
    if keep:
        comp.without_outliers = _summarise(
            comp.dataset, comp.shots, [(r, d, 1.0 / len(keep)) for r, d in keep], level, n_boot, seed
        )


# ---------------------------------------------------------------- output
def _p(p: float) -> str:
    return f"{p:.2g}" if p < 0.001 else f"{p:.3f}"


def format_comparison(c: Comparison, name_a: str = "A", name_b: str = "B") -> str:
    """The printed block of one comparison (per-seed rows, CI, sign test, verdict, seed health)."""
    pct = f"{100 * (1 - c.level):g}%"
    where = c.dataset if c.shots is None else f"{c.dataset}, {c.shots} shots"
    lines = [f"== {where}: {name_a} vs {name_b} =="]
    if c.dataset != "all":
        lines.append(
            f"  {'seed':>4}  {'acc A':>7}  {'acc B':>7}  {'Δ (pp)':>7}  {'A only':>6}  {'B only':>6}  McNemar p"
        )
        for r in c.rows:
            lines.append(
                f"  {str(r.seed):>4}  {r.acc_a:7.2f}  {r.acc_b:7.2f}  {r.delta:+7.2f}  {r.a_only:6d}  {r.b_only:6d}  "
                f"{_p(r.p_mcnemar)} (exact, n={r.n})"
            )
    lines.append(
        f"  Δ = {c.delta:+.2f} pp, {pct} CI [{c.ci[0]:+.2f}, {c.ci[1]:+.2f}] "
        f"(paired bootstrap over test images, {c.n_boot} resamples, stratified by seed)"
    )
    k, n, p = c.sign
    lines.append(f"  sign test across seeds: A ahead in {k} of {n} differing seeds, p = {_p(p)}")
    lines.append(f"  verdict: {name_a} is {_verdict_text(c.verdict, name_b)} at level {c.level:g}")
    for side, seeds in c.outliers.items():
        lines.append(
            f"  seed health: {side} seed(s) {', '.join(map(str, seeds))} more than {OUTLIER_SDS:g} robust SDs "
            "(1.4826 * MAD) from the others"
        )
    if c.without_outliers is not None:
        w = c.without_outliers
        change = "unchanged" if w.verdict == c.verdict else f"changes to {w.verdict}"
        lines.append(
            f"  without them: Δ = {w.delta:+.2f} pp, CI [{w.ci[0]:+.2f}, {w.ci[1]:+.2f}], verdict {change}"
        )
    lines.extend(f"  note: {n}" for n in c.notes)
    return "\n".join(lines)


def _verdict_text(v: str, name_b: str) -> str:
    return {"better": f"better than {name_b}", "worse": f"worse than {name_b}"}.get(
        v, f"not distinguishable from {name_b}"
    )


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m ramt.compare",
        description="Paired comparison of two runs or groups of runs on the same test images (docs/STATISTICS.md).",
    )
    p.add_argument("a", metavar="RUN_OR_GROUP_A", help="run folder, or a folder holding seed<N> run folders")
    p.add_argument(
        "b", metavar="RUN_OR_GROUP_B", help="the runs to compare against (same datasets and split)"
    )
    p.add_argument("--level", type=float, default=DEFAULT_LEVEL, help="test level (default 0.05: 95%% CI)")
    p.add_argument("--n-boot", type=int, default=DEFAULT_N_BOOT, help="bootstrap resamples (default 5000)")
    p.add_argument("--seed", type=int, default=0, help="random seed of the bootstrap (default 0)")
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    if not 0 < args.level < 1 or args.n_boot < 100:
        print("ERROR: --level must be in (0, 1) and --n-boot at least 100.", file=sys.stderr)
        return 2
    try:
        a_runs, b_runs = load_runs(args.a), load_runs(args.b)
        comps = compare_runs(a_runs, b_runs, args.level, args.n_boot, args.seed, across=True)
    except CompareError as e:
        print(str(e), file=sys.stderr)
        return 2
    print(f"A = {args.a} ({a_runs[0].record.method}, {len(a_runs)} runs)")
    print(f"B = {args.b} ({b_runs[0].record.method}, {len(b_runs)} runs)")
    for c in comps:
        print()
        print(format_comparison(c))
    return 0


if __name__ == "__main__":
    sys.exit(main())
