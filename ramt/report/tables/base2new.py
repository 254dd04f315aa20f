"""The base-to-new table: base, new and their harmonic mean H per dataset."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ramt.methods import dataset_sort_key
from ramt.report.tables.common import (
    Block,
    _fmt,
    _md_table,
    _ok,
    _rows,
    format_cell,
    harmonic_mean,
    render_md,
    row_label,
    seed_stats,
)


def base2new_summary(df: pd.DataFrame) -> pd.DataFrame:
    """Per (method, backbone, dataset): seed-averaged base and new accuracy and H, plus an Average row.

    H per dataset uses the seed-averaged B and N; the Average row averages B and N over the
    datasets that have both, then takes H of those averages.
    """
    cols = [
        "method",
        "backbone",
        "dataset",
        "base_mean",
        "base_std",
        "base_n",
        "new_mean",
        "new_std",
        "new_n",
        "hm",
    ]
    ok = _ok(df, "base2new")
    if ok.empty:
        return pd.DataFrame(columns=cols)
    out = []
    for method, backbone in _rows(ok):
        g = ok[(ok["method"] == method) & (ok["backbone"] == backbone)]
        both_b, both_n = [], []
        for dataset in sorted(set(g["dataset"]), key=dataset_sort_key):
            gd = g[g["dataset"] == dataset]
            b = seed_stats(gd[gd["subsample_classes"] == "base"]["accuracy"])
            n = seed_stats(gd[gd["subsample_classes"] == "new"]["accuracy"])
            out.append([method, backbone, dataset, *b, *n, harmonic_mean(b[0], n[0])])
            if b[2] and n[2]:
                both_b.append(b[0])
                both_n.append(n[0])
        if both_b:
            mb, mn = float(np.mean(both_b)), float(np.mean(both_n))
            out.append(
                [
                    method,
                    backbone,
                    "Average",
                    mb,
                    math.nan,
                    len(both_b),
                    mn,
                    math.nan,
                    len(both_n),
                    harmonic_mean(mb, mn),
                ]
            )
    return pd.DataFrame(out, columns=cols)


def base2new_table_md(df: pd.DataFrame) -> str:
    """The base-to-new section as Markdown."""
    return render_md(base2new_blocks(df))


def base2new_blocks(df: pd.DataFrame) -> list[Block]:
    summ = base2new_summary(df)
    lines = ["# Base-to-new generalisation", ""]
    if summ.empty:
        return lines + ["No base-to-new runs found.", ""]
    for (method, backbone), g in summ.groupby(["method", "backbone"], sort=False):
        rows = []
        for r in g.itertuples(index=False):
            if r.dataset == "Average":
                rows.append(
                    [f"Average ({r.base_n} datasets)", _fmt(r.base_mean), _fmt(r.new_mean), _fmt(r.hm)]
                )
            else:
                rows.append(
                    [
                        r.dataset,
                        format_cell(r.base_mean, r.base_std, r.base_n),
                        format_cell(r.new_mean, r.new_std, r.new_n),
                        _fmt(r.hm),
                    ]
                )
        lines += [
            f"## {row_label(method, backbone)}",
            "",
            _md_table(["Dataset", "Base", "New", "H"], rows),
            "",
        ]
    lines += [
        "Notes:",
        "",
        "- H = 2·B·N/(B+N): per dataset from the seed-averaged B and N; the Average row from B and N "
        "averaged over the datasets that have both (docs/METHOD_SPEC.md section 10).",
        "- No published base-to-new numbers were available.",
        "",
    ]
    return lines
