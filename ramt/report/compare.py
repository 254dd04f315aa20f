"""Our few-shot results against the full published table (pure functions on the summary table).

- Every published method (in the order of the published CSV) gets its row at every shot count shown,
  with all 11 datasets, the published 11-dataset Average, and for a combination ``X+R-AMT`` the
  published gain over ``X`` (as the R-AMT README prints it).
- Each of our rows compared with a published method (``ramt.methods.PUBLISHED_NAME``) follows it:
  our cells, then Δ = ours − published per cell, and for the Average column Δ against the mean of
  the published values over *the same datasets* as our average.
- The verdict of a row compares that average Δ with the seed noise estimated from our std:
  ``σ_Δ = sqrt(Σ_d s_d² (1/n_d + 1/3)) / D`` over our D datasets (s_d: population std over our
  n_d seeds; the published values are 3-seed means with the same assumed noise). Within ``2 σ_Δ`` the
  row is "within seed noise"; otherwise "below"/"above". One-seed rows have no noise estimate.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import pandas as pd

from ramt.methods import PAPER_DATASETS, PUBLISHED_NAME
from ramt.published import ZERO_SHOT, load_published, published_lookup, published_value, stored_shots

__all__ = [
    "PUBLISHED_SEEDS",
    "RowStats",
    "average_delta",
    "combination_host",
    "published_average",
    "published_cell",
    "published_gain",
    "published_methods",
    "row_stats",
    "seed_noise",
    "verdict",
]

PUBLISHED_SEEDS = 3  # the published few-shot numbers are means over 3 seeds


@lru_cache(maxsize=1)
def _published_order() -> tuple[str, ...]:
    """Published method names in the order they first appear in the shipped CSV (the paper's order)."""
    return tuple(dict.fromkeys(load_published()["method"]))


def published_methods(shots: int) -> list[str]:
    """The published methods with a value at ``shots`` (zero-shot CLIP always, first)."""
    pub = published_lookup()
    have = {m for (k, m, _d) in pub if k == int(shots)}
    return [m for m in _published_order() if m == ZERO_SHOT or m in have]


#: The published accuracy of a *published* method name (zero-shot CLIP at shots 0), or None.
published_cell = published_value


def published_average(name: str, shots: int, datasets: Sequence[str] | None = None) -> float | None:
    """The published Average (all 11 datasets), or the mean of the published cells over ``datasets``."""
    if datasets is None or set(datasets) == set(PAPER_DATASETS):
        avg = published_cell(name, "Average", shots)
        if avg is not None or datasets is None:
            return avg
    vals = [published_cell(name, d, shots) for d in datasets]
    if not vals or any(v is None for v in vals):
        return None
    return float(np.mean(vals))


def combination_host(name: str) -> str | None:
    """``Tip-Adapter-F+R-AMT`` -> ``Tip-Adapter-F``; None for a method that is not a combination."""
    return name.split("+", 1)[0] if "+" in name else None


def published_gain(name: str, shots: int) -> float | None:
    """The published gain of a combination over its host (published averages), else None."""
    host = combination_host(name)
    if host is None:
        return None
    a, b = published_average(name, shots), published_average(host, shots)
    return None if a is None or b is None else a - b


@dataclass
class RowStats:
    """One of our rows at one shot count: ``cells[dataset] = (mean, std, n seeds)``."""

    method: str
    backbone: str
    selection: str
    uses_test: bool = False
    cells: dict[str, tuple[float, float, int]] = field(default_factory=dict)

    @property
    def published_name(self) -> str | None:
        return PUBLISHED_NAME.get(self.method)

    def average(self, datasets: Sequence[str] | None = None) -> float | None:
        ds = [d for d in (datasets if datasets is not None else self.cells) if d in self.cells]
        return float(np.mean([self.cells[d][0] for d in ds])) if ds else None


def row_stats(summ: pd.DataFrame, key: tuple[str, str, str], shots: int) -> RowStats:
    """Our row ``key = (method, backbone, selection)`` at ``shots`` (zero-shot CLIP: shots 0)."""
    method, backbone, selection = key
    k = stored_shots(method == ZERO_SHOT, shots)
    sel = summ["selection"] if "selection" in summ.columns else pd.Series("default", index=summ.index)
    g = summ[
        (summ["method"] == method)
        & (summ["backbone"] == backbone)
        & (sel == selection)
        & (summ["shots"] == k)
    ]
    cells = {str(r.dataset): (float(r.mean), float(r.std), int(r.n)) for r in g.itertuples(index=False)}
    uses_test = bool(g["uses_test"].any()) if "uses_test" in g.columns and not g.empty else False
    return RowStats(method, backbone, selection, uses_test, cells)


def average_delta(row: RowStats, shots: int) -> tuple[float | None, list[str]]:
    """Our average minus the published average over the same (paper) datasets, and those datasets."""
    name = row.published_name
    if name is None:
        return None, []
    ds = [d for d in PAPER_DATASETS if d in row.cells and published_cell(name, d, shots) is not None]
    ours, pub = row.average(ds), published_average(name, shots, ds)
    if ours is None or pub is None:
        return None, ds
    return ours - pub, ds


def seed_noise(row: RowStats, datasets: Sequence[str]) -> float | None:
    """``σ_Δ`` of the module docstring over ``datasets``; None when no dataset has 2+ seeds."""
    stats = [row.cells[d] for d in datasets if d in row.cells]
    if not stats or all(n < 2 for _m, _s, n in stats):
        return None
    var = sum(s * s * (1.0 / n + 1.0 / PUBLISHED_SEEDS) for _m, s, n in stats)
    return math.sqrt(var) / len(stats)


def verdict(delta: float | None, sigma: float | None) -> str:
    """``within seed noise`` / ``below`` / ``above`` the published numbers (2 σ band)."""
    if delta is None:
        return "no published value for these datasets"
    if sigma is None:
        side = "below" if delta < 0 else "above"
        return f"{side} by {abs(delta):.2f} (1 seed: no noise estimate)"
    if abs(delta) <= 2 * sigma:
        return f"within seed noise (|Δ| {abs(delta):.2f} ≤ 2σ {2 * sigma:.2f})"
    side = "below" if delta < 0 else "above"
    return f"{side} published by {abs(delta):.2f} (> 2σ {2 * sigma:.2f})"
