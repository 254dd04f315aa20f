"""Shared pieces of the report's tables: cells, row labels, row selection, tables as data (Markdown)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Union

import numpy as np
import pandas as pd

from ramt.methods import COMPARABLE_BACKBONE, method_sort_key

DEFAULT_SEEDS: tuple[int, ...] = (1, 2, 3)
DASH = "—"
NOT_COMPARABLE = "†"
USES_TEST = "‡"  # the row used test data for a choice (Tip-Adapter's official protocol)
DEFAULT_SELECTION = "default"


def seed_stats(values: Iterable[float]) -> tuple[float, float, int]:
    """(mean, population std, n) of the finished seeds' values; (nan, nan, 0) when empty."""
    arr = np.asarray([float(v) for v in values if v is not None and not pd.isna(v)], dtype=float)
    if arr.size == 0:
        return (math.nan, math.nan, 0)
    return (float(arr.mean()), float(arr.std(ddof=0)), int(arr.size))


def format_cell(mean: float, std: float, n: int) -> str:
    """``95.43 ± 0.12 (3)``; ``—`` when there is no value."""
    if n == 0 or math.isnan(mean):
        return DASH
    return f"{mean:.2f} ± {std:.2f} ({n})"


def _fmt(value: float | None, signed: bool = False) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return DASH
    return f"{value:+.2f}" if signed else f"{value:.2f}"


def harmonic_mean(base: float, new: float) -> float:
    """``H = 2·B·N / (B + N)`` (nan when undefined)."""
    if base is None or new is None or math.isnan(base) or math.isnan(new) or base + new == 0:
        return math.nan
    return 2.0 * base * new / (base + new)


def comparable(backbone: str) -> bool:
    return backbone == COMPARABLE_BACKBONE


def row_label(method: str, backbone: str, selection: str = DEFAULT_SELECTION, uses_test: bool = False) -> str:
    """The row name: the method, ``[backbone]†`` when it is not the published backbone, and
    ``{protocol}`` (plus ``‡`` when test data chose anything) for a non-default selection protocol."""
    label = method if comparable(backbone) else f"{method} [{backbone or '?'}]{NOT_COMPARABLE}"
    if selection and selection != DEFAULT_SELECTION:
        label += f" {{{selection}}}"
    if uses_test:
        label += USES_TEST
    return label


@dataclass(frozen=True)
class Table:
    """A table as data (header and rows of cell texts): rendered to Markdown and to HTML alike."""

    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


#: A report section: Markdown text lines and tables, in order.
Block = Union[str, Table]


def _md_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> Table:
    return Table(tuple(str(h) for h in header), tuple(tuple(str(c) for c in r) for r in rows))


def md_cell(text: str) -> str:
    """A Markdown table cell: ``|`` escaped and line breaks removed, so that no label shifts a column."""
    return " ".join(str(text).replace("\\", "\\\\").replace("|", "\\|").splitlines())


def table_md(table: Table) -> str:
    out = [
        "| " + " | ".join(map(md_cell, table.header)) + " |",
        "|" + "|".join(["---"] * len(table.header)) + "|",
    ]
    out += ["| " + " | ".join(map(md_cell, r)) + " |" for r in table.rows]
    return "\n".join(out)


def render_md(blocks: Iterable[Block]) -> str:
    """A section's blocks as Markdown text."""
    return "\n".join(table_md(b) if isinstance(b, Table) else b for b in blocks)


def _ok(df: pd.DataFrame, protocol: str) -> pd.DataFrame:
    if df.empty:
        return df
    return df[(df["protocol"] == protocol) & (df["status"] == "ok")]


def _rows(df: pd.DataFrame) -> list[tuple[str, str]]:
    pairs = {(str(m), str(b)) for m, b in zip(df["method"], df["backbone"])}
    return sorted(pairs, key=lambda p: (method_sort_key(p[0]), not comparable(p[1]), p[1]))


def dg_source_runs(src: pd.DataFrame, method: str, backbone: str, source_shots: int) -> pd.DataFrame:
    """The ImageNet few-shot runs (``source_shots``) of one method and backbone: a DG row's source."""
    return src[
        (src["method"] == method)
        & (src["backbone"] == backbone)
        & (src["dataset"] == "ImageNet")
        & (src["shots"] == source_shots)
    ]


def _selection_of(df: pd.DataFrame) -> pd.Series:
    if "selection" in df.columns:
        return df["selection"].fillna(DEFAULT_SELECTION).astype(str)
    return pd.Series([DEFAULT_SELECTION] * len(df), index=df.index)


def row_keys(df: pd.DataFrame) -> list[tuple[str, str, str]]:
    """``(method, backbone, selection)`` rows of a few-shot table, default protocol first per method."""
    triples = {(str(m), str(b), s) for m, b, s in zip(df["method"], df["backbone"], _selection_of(df))}
    return sorted(
        triples,
        key=lambda t: (method_sort_key(t[0]), not comparable(t[1]), t[1], t[2] != DEFAULT_SELECTION, t[2]),
    )


def select_row(df: pd.DataFrame, key: tuple[str, str, str]) -> pd.DataFrame:
    method, backbone, selection = key
    return df[(df["method"] == method) & (df["backbone"] == backbone) & (_selection_of(df) == selection)]
