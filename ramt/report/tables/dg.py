"""The domain-generalisation table: the ImageNet source and the four ImageNet variants."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ramt.methods import DG_TARGETS
from ramt.report.tables.common import (
    DASH,
    Block,
    _md_table,
    _ok,
    _rows,
    dg_source_runs,
    format_cell,
    render_md,
    row_label,
    seed_stats,
)


def dg_table_md(df: pd.DataFrame, source_shots: int = 16) -> str:
    """Source (16-shot ImageNet) and the four ImageNet variants, mean over seeds, plus their mean."""
    return render_md(dg_blocks(df, source_shots))


def dg_blocks(df: pd.DataFrame, source_shots: int = 16) -> list[Block]:
    ok = _ok(df, "domain_generalisation")
    lines = ["# Domain generalisation (ImageNet → variants)", ""]
    if ok.empty:
        return lines + ["No domain-generalisation runs found.", ""]
    src = _ok(df, "fewshot")
    targets = list(DG_TARGETS) + sorted(set(ok["dataset"]) - set(DG_TARGETS))
    rows = []
    for method, backbone in _rows(ok):
        g = ok[(ok["method"] == method) & (ok["backbone"] == backbone)]
        s = dg_source_runs(src, method, backbone, source_shots)
        src_cell = format_cell(*seed_stats(s["accuracy"])) if not s.empty else DASH
        means = []
        cells = []
        for t in targets:
            st = seed_stats(g[g["dataset"] == t]["accuracy"])
            cells.append(format_cell(*st))
            if st[2]:
                means.append(st[0])
        avg = f"{np.mean(means):.2f} ({len(means)}/{len(targets)} targets)" if means else DASH
        rows.append([row_label(method, backbone), src_cell, *cells, avg])
    lines += [
        _md_table(["Method", f"ImageNet ({source_shots} shots, source)", *targets, "Average"], rows),
        "",
    ]
    lines += [
        "Notes:",
        "",
        "- Cells: mean ± population std over seeds (n); Average: mean over the targets present.",
        "- No published domain-generalisation numbers were available.",
        "",
    ]
    return lines
