"""The few-shot table: methods x datasets + Average per shot count, and the published comparison."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from ramt.methods import (
    COMPARABLE_BACKBONE,
    PAPER_DATASETS,
    PUBLISHED_NAME,
    dataset_sort_key,
    method_sort_key,
)
from ramt.published import published_value
from ramt.report import compare as C
from ramt.report.tables.common import (
    DASH,
    DEFAULT_SEEDS,
    DEFAULT_SELECTION,
    NOT_COMPARABLE,
    USES_TEST,
    Block,
    _fmt,
    _md_table,
    _ok,
    _selection_of,
    comparable,
    format_cell,
    render_md,
    row_keys,
    row_label,
    seed_stats,
    select_row,
)
from ramt.report.tables.missing import missing_blocks


def fewshot_summary(df: pd.DataFrame, with_published: bool = True) -> pd.DataFrame:
    """One row per (method, backbone, selection protocol, dataset, shots) of the few-shot protocol:
    mean/std/n over seeds.

    Zero-shot CLIP is at ``shots == 0``. With ``with_published``, adds the published accuracy (for
    the method named by ``PUBLISHED_NAME``) and ``delta = mean - published`` for ViT-B/16 rows.
    ``uses_test`` is True when any run of the cell used test data for a choice.
    """
    cols = [
        "method",
        "backbone",
        "selection",
        "uses_test",
        "dataset",
        "shots",
        "mean",
        "std",
        "n",
        "seeds",
        "published",
        "delta",
    ]
    ok = _ok(df, "fewshot")
    if ok.empty:
        return pd.DataFrame(columns=cols)
    ok = ok.assign(selection=_selection_of(ok))
    if "uses_test" not in ok.columns:
        ok = ok.assign(uses_test=False)
    out = []
    for (method, backbone, selection, dataset, shots), g in ok.groupby(
        ["method", "backbone", "selection", "dataset", "shots"], sort=False
    ):
        mean, std, n = seed_stats(g["accuracy"])
        published = _published(method, dataset, int(shots)) if with_published else None
        delta = mean - published if (published is not None and comparable(backbone)) else None
        seeds = " ".join(str(int(s)) for s in sorted(g["seed"].dropna().unique()))
        uses_test = bool(g["uses_test"].fillna(False).astype(bool).any())
        out.append(
            [
                method,
                backbone,
                selection,
                uses_test,
                dataset,
                int(shots),
                mean,
                std,
                n,
                seeds,
                published,
                delta,
            ]
        )
    res = pd.DataFrame(out, columns=cols)
    res["_m"] = res["method"].map(method_sort_key)
    res["_d"] = res["dataset"].map(dataset_sort_key)
    res["_s"] = res["selection"] != DEFAULT_SELECTION
    res = res.sort_values(["shots", "_m", "backbone", "_s", "selection", "_d"], kind="stable")
    return res.drop(columns=["_m", "_d", "_s"]).reset_index(drop=True)


def _published(method: str, dataset: str, shots: int) -> float | None:
    """The published number our row label ``method`` is compared with (``PUBLISHED_NAME``), or None."""
    name = PUBLISHED_NAME.get(method)
    return None if name is None else published_value(name, dataset, shots)


def _ours_table(sub: pd.DataFrame, datasets: Sequence[str], notes: set[str]) -> list[list[str]]:
    rows = []
    for key in row_keys(sub):
        method, backbone, selection = key
        g = select_row(sub, key)
        cells = {r.dataset: r for r in g.itertuples(index=False)}
        if not comparable(backbone):
            notes.add("backbone")
        uses_test = bool(g["uses_test"].any()) if "uses_test" in g.columns else False
        if selection != DEFAULT_SELECTION:
            notes.add("selection")
        if uses_test:
            notes.add("uses_test")
        ours = [
            format_cell(cells[d].mean, cells[d].std, cells[d].n) if d in cells else DASH for d in datasets
        ]
        have = [d for d in datasets if d in cells]
        avg = float(np.mean([cells[d].mean for d in have])) if have else math.nan
        avg_cell = f"{avg:.2f} ({len(have)}/{len(datasets)} datasets)" if have else DASH
        rows.append([row_label(method, backbone, selection, uses_test), *ours, avg_cell])
    return rows


def _comparison_tables(summ: pd.DataFrame, k: int, extra: Sequence[str], notes: set[str]) -> list[str]:
    """The full published table at ``k`` shots with our rows, Δ rows and gains; then the verdicts."""
    datasets = [*PAPER_DATASETS, *extra]
    n_paper = len(PAPER_DATASETS)
    sub = summ[(summ["shots"] == k) | (summ["shots"] == 0)]
    keys = row_keys(sub) if not sub.empty else []
    ours_by_pub: dict[str, list] = {}
    for key in keys:
        name = PUBLISHED_NAME.get(key[0])
        if name is None:
            notes.add("unpublished")
            continue
        ours_by_pub.setdefault(name, []).append(C.row_stats(summ, key, k))
    all_rows = {key: C.row_stats(summ, key, k) for key in keys}
    table, verdicts = [], []
    for name in C.published_methods(k):
        pvals = [C.published_cell(name, d, k) for d in datasets]
        gain = C.published_gain(name, k)
        table.append(
            [
                f"{name} (published)",
                *[_fmt(v) for v in pvals],
                _fmt(C.published_average(name, k)),
                _fmt(gain, True),
            ]
        )
        if name not in PUBLISHED_NAME.values():
            notes.add("reference_only")
        for row in ours_by_pub.get(name, []):
            label = row_label(row.method, row.backbone, row.selection, row.uses_test)
            ours = [format_cell(*row.cells[d]) if d in row.cells else DASH for d in datasets]
            have = [d for d in datasets if d in row.cells]
            avg = row.average(have)
            avg_cell = f"{avg:.2f} ({len(have)}/{n_paper})" if avg is not None else DASH
            our_gain = DASH
            host = C.combination_host(row.method)
            if host is not None:
                hrow = all_rows.get((host, row.backbone, row.selection))
                common = [d for d in have if hrow is not None and d in hrow.cells]
                if common:
                    our_gain = f"{row.average(common) - hrow.average(common):+.2f} ({len(common)})"
            table.append([f"{label} (ours)", *ours, avg_cell, our_gain])
            if not comparable(row.backbone):
                table.append([f"{label} (Δ)", *(["n/c"] * (len(datasets) + 2))])
                continue
            deltas = [
                row.cells[d][0] - p if (d in row.cells and p is not None) else None
                for d, p in zip(datasets, pvals)
            ]
            davg, same = C.average_delta(row, k)
            table.append([f"{label} (Δ)", *[_fmt(v, True) for v in deltas], _fmt(davg, True), DASH])
            pub_same = C.published_average(name, k, same) if same else None
            sigma = C.seed_noise(row, same)
            seeds = sorted({n for _m, _s, n in row.cells.values()})
            verdicts.append(
                [
                    label,
                    name,
                    f"{len(same)}/{n_paper}",
                    " / ".join(map(str, seeds)),
                    _fmt(row.average(same) if same else None),
                    _fmt(pub_same),
                    _fmt(davg, True),
                    _fmt(2 * sigma) if sigma is not None else DASH,
                    C.verdict(davg, sigma),
                ]
            )
    title = f"{k} shots"
    lines = [f"### {title}: ours vs published (every published cell)", ""]
    lines += [_md_table(["Method", *datasets, "Average", "Gain"], table), ""]
    lines += [f"### {title}: verdict per method (average over the datasets we have)", ""]
    if verdicts:
        header = [
            "Method",
            "Published row",
            "Datasets",
            "Seeds",
            "Ours (avg)",
            "Published (same datasets)",
            "Δ",
            "2σ seed noise",
            "Verdict",
        ]
        lines += [_md_table(header, verdicts), ""]
    else:
        lines += ["No run of a method with a published row at this shot count.", ""]
    return lines


def fewshot_table_md(
    df: pd.DataFrame,
    with_published: bool = False,
    shots: Sequence[int] | None = None,
    expected_seeds: Sequence[int] = DEFAULT_SEEDS,
) -> str:
    """The few-shot section as Markdown (:func:`fewshot_blocks`)."""
    return render_md(fewshot_blocks(df, with_published, shots, expected_seeds))


def fewshot_blocks(
    df: pd.DataFrame,
    with_published: bool = False,
    shots: Sequence[int] | None = None,
    expected_seeds: Sequence[int] = DEFAULT_SEEDS,
) -> list[Block]:
    """The paper-style table(s): methods x datasets + Average, one table per shot count.

    With ``with_published`` each table is followed by the full published table at that shot count
    (every published method and dataset, published averages and gains) with our rows and Δ rows
    under the published method they are compared with, and a verdict per row (``compare``). Without
    any run the published 16-shot table is still shown.
    """
    summ = fewshot_summary(df, with_published=with_published)
    lines = ["# Few-shot classification", ""]
    if summ.empty and not with_published:
        lines += ["No finished few-shot runs found.", ""]
        return lines + missing_blocks(df, expected_seeds, heading_level=2)
    present = sorted({int(k) for k in summ["shots"] if int(k) > 0})
    if shots:
        present = [k for k in present if k in set(int(s) for s in shots)]
    if not present:
        present = (
            [max(int(s) for s in shots)] if (with_published and shots) else ([16] if with_published else [0])
        )
    notes: set[str] = set()
    for k in present:
        sub = summ[(summ["shots"] == k) | (summ["shots"] == 0)]
        datasets = sorted(set(sub["dataset"]), key=dataset_sort_key)
        title = "Zero-shot" if k == 0 else f"{k} shots"
        lines += [f"## {title}", ""]
        if sub.empty:
            lines += [f"No finished runs at {title}.", ""]
        else:
            lines += [_md_table(["Method", *datasets, "Average"], _ours_table(sub, datasets, notes)), ""]
        if with_published and k > 0:
            extra = [d for d in datasets if d not in PAPER_DATASETS]
            lines += _comparison_tables(summ, k, extra, notes)
    lines += ["Notes:", ""]
    lines.append(
        "- Cells: mean ± population std over the finished seeds (number of seeds); "
        "crashed and missing seeds are listed below, never averaged."
    )
    lines.append(
        "- Average: unweighted mean of the dataset means present for that row (counted in the cell)."
    )
    if with_published:
        lines.append(
            "- Published: R-AMT project page (README for the combinations); our Tip-Adapter-F is compared "
            "with the published Tip-Adapter row (docs/BASELINES.md, docs/METHODS.md). Δ = ours − published; the Average column "
            "of a Δ row compares with the mean of the published cells over the same datasets as our average; "
            "Gain: a combination's average minus its host's (ours: over the datasets both have)."
        )
        lines.append(
            "- Verdict: Δ of the average against 2σ, σ = sqrt(Σ_d s_d²(1/n_d + 1/3))/D from our seed std s_d "
            "(published values are 3-seed means)."
        )
        lines.append(
            "- Selection protocols of the published rows (docs/METHODS.md): the Tip-Adapter rows come from "
            "Tip-Adapter's own code, which searches (β, α) on the full val split (on test for ImageNet) and "
            "keeps the Tip-F epoch best on test; every other published row selects nothing on test."
        )
        if "reference_only" in notes:
            lines.append("- Published rows without a run of ours are reference only.")
        if "unpublished" in notes:
            lines.append("- Methods without a published row appear in the first table only.")
    if "selection" in notes:
        lines.append(
            "- {official}: Tip-Adapter's own selection protocol (TRAINER.TIP.SEARCH_SPLIT val, on ImageNet test; "
            "TRAINER.TIP.F_EPOCH best_test); {custom}: another non-default TRAINER.TIP selection "
            "(results.json `selection`). Rows without braces use the default protocol: no test data for any choice."
        )
    if "uses_test" in notes:
        lines.append(
            f"- {USES_TEST} **test data was used for selection** in this row (β/α search on test or Tip-F epoch "
            "best on test): not a clean few-shot result, comparable only with the published rows that did the same."
        )
    if "backbone" in notes:
        lines.append(
            f"- {NOT_COMPARABLE} backbone is not {COMPARABLE_BACKBONE}: not comparable with the published numbers."
        )
    if not summ.empty and any("+" in str(m) for m in summ["method"]):
        lines.append("- Combinations with R-AMT are the project's reconstruction (docs/BASELINES.md §4).")
    return lines + ["", *missing_blocks(df, expected_seeds, heading_level=2)]
