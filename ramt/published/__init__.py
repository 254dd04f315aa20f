"""The published R-AMT numbers shipped with the suite (``results.csv``) and their loader.

The CSV is in long format, ``source,protocol,shots,method,dataset,accuracy,error_bar``, with
two sources: the project page's few-shot table (shots 0/1/2/4/8/16, all methods, error bars
for AMT and R-AMT) and the README's 16-shot table (the only source of the two combinations).
The README repeats the project page's values where they overlap, so ``published_lookup``
keeps one value per (shots, method, dataset), preferring the project page.
"""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path

import pandas as pd

__all__ = [
    "PUBLISHED_CSV",
    "ZERO_SHOT",
    "stored_shots",
    "SOURCE_PROJECT_PAGE",
    "SOURCE_README",
    "load_published",
    "published_lookup",
    "published_value",
]

PUBLISHED_CSV = Path(__file__).with_name("results.csv")
SOURCE_PROJECT_PAGE = "R-AMT project page few-shot table"
SOURCE_README = "R-AMT README 16-shot table"
_COLUMNS = ["source", "protocol", "shots", "method", "dataset", "accuracy", "error_bar"]
#: The published (and our) name of zero-shot CLIP.
ZERO_SHOT = "ZeroShotCLIP"


def stored_shots(zero_shot: bool, shots: int | None) -> int:
    """The shot count a result is stored and looked up at: zero-shot CLIP always at 0 (the one place
    of this rule; the published table, our tidy table and the few-shot tables all follow it)."""
    return 0 if zero_shot or shots is None or int(shots) < 0 else int(shots)


def load_published(path: str | Path | None = None) -> pd.DataFrame:
    """Read the published table: ``shots`` as int, ``accuracy``/``error_bar`` as float (NaN if empty)."""
    df = pd.read_csv(
        path or PUBLISHED_CSV, dtype={"source": str, "protocol": str, "method": str, "dataset": str}
    )
    missing = [c for c in _COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"published table {path or PUBLISHED_CSV} lacks columns {missing}")
    df["shots"] = df["shots"].astype(int)
    df["accuracy"] = pd.to_numeric(df["accuracy"], errors="coerce").astype(float)
    df["error_bar"] = pd.to_numeric(df["error_bar"], errors="coerce").astype(float)
    return df[_COLUMNS]


@lru_cache(maxsize=4)
def _lookup_cached(path: str) -> dict[tuple[int, str, str], tuple[float, float]]:
    df = load_published(path)
    df = df[df["protocol"] == "fewshot"].copy()
    # Project page first, so that it wins over the README where both give a value.
    df["_rank"] = (df["source"] != SOURCE_PROJECT_PAGE).astype(int)
    df = df.sort_values("_rank", kind="stable").drop_duplicates(["shots", "method", "dataset"], keep="first")
    return {
        (int(r.shots), str(r.method), str(r.dataset)): (float(r.accuracy), float(r.error_bar))
        for r in df.itertuples(index=False)
    }


def published_lookup(path: str | Path | None = None) -> dict[tuple[int, str, str], tuple[float, float]]:
    """``{(shots, method, dataset): (accuracy, error_bar)}`` for the few-shot protocol (one value each).

    Zero-shot CLIP is stored at ``shots == 0``; ``dataset`` includes ``"Average"``.
    """
    return dict(_lookup_cached(str(path or PUBLISHED_CSV)))


def published_value(method: str, dataset: str, shots: int, path: str | Path | None = None) -> float | None:
    """The published accuracy for a (published method name, paper dataset name, shots), or None.

    The one lookup of a published number (the report's tables, comparison and plots call it).
    """
    key = (stored_shots(method == ZERO_SHOT, shots), method, dataset)
    hit = _lookup_cached(str(path or PUBLISHED_CSV)).get(key)
    if hit is None or math.isnan(hit[0]):
        return None
    return hit[0]
