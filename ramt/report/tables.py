"""Markdown and CSV tables from the tidy run table (see ``collect.collect_runs``).

Conventions (docs/METHOD_SPEC.md section 10, docs/ENGINE.md "Results and their parsing"):
- a cell is ``mean ± std (n)`` over the finished seeds, with the population std (ddof = 0), as
  CoOp's ``parse_test_res.py`` prints it; crashed and missing seeds are never averaged, they are
  listed in the missing/crashed section;
- the Average is the unweighted mean of the dataset means *present for that row*, and the cell
  says over how many datasets it was taken;
- rows whose backbone is not ViT-B/16 are marked as not comparable with the published numbers;
- base-to-new: H per dataset from the seed-averaged B and N; the average row's H from the
  dataset-averaged B and N (the CoCoOp convention).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from ramt.methods import (
    COMPARABLE_BACKBONE,
    DG_TARGETS,
    PAPER_DATASETS,
    PUBLISHED_NAME,
    dataset_sort_key,
    method_sort_key,
)
from ramt.published import ZERO_SHOT, published_value

__all__ = [
    "DEFAULT_SEEDS",
    "base2new_summary",
    "base2new_table_md",
    "dg_table_md",
    "fewshot_summary",
    "fewshot_table_md",
    "format_cell",
    "harmonic_mean",
    "missing_md",
    "missing_runs",
    "seed_stats",
]

DEFAULT_SEEDS: tuple[int, ...] = (1, 2, 3)
DASH = "—"
NOT_COMPARABLE = "†"
USES_TEST = "‡"  # the row used test data for a choice (Tip-Adapter's official protocol)
DEFAULT_SELECTION = "default"


# ----------------------------------------------------------------------------- small helpers
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


def _md_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * len(header)) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


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


# ----------------------------------------------------------------------------- few-shot
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
    from ramt.report import compare as C

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
        lines += [missing_md(df, expected_seeds, heading_level=2)]
        return "\n".join(lines)
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
            lines.append("- Rows without ours (LinearProbeCLIP, ProGrad, VPT-deep, UPT) are reference only.")
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
    lines += ["", missing_md(df, expected_seeds, heading_level=2)]
    return "\n".join(lines)


# ----------------------------------------------------------------------------- missing / crashed
def missing_runs(df: pd.DataFrame, expected_seeds: Sequence[int] = DEFAULT_SEEDS) -> pd.DataFrame:
    """Missing, crashed and conflicting seeds: one row each (``kind`` = "missing" | "crashed" | "conflict";
    a conflict is two finished runs of one identity and seed, both listed).

    Groups are (protocol, method, dataset, shots, backbone, subsample) that have at least one run.
    Zero-shot CLIP has no seed level, so only its crashed runs are listed.
    """
    cols = ["kind", "protocol", "method", "dataset", "shots", "seed", "backbone", "subsample_classes", "path"]
    if df.empty:
        return pd.DataFrame(columns=cols)
    out = []
    key = ["protocol", "method", "dataset", "shots", "backbone", "subsample_classes"]
    group_key = key + (["selection"] if "selection" in df.columns else [])
    for vals, g in df.groupby(group_key, sort=True, dropna=False):
        base = dict(zip(key, vals))
        for r in g[g["status"].isin(["crashed", "conflict"])].itertuples(index=False):
            seed = None if pd.isna(r.seed) else int(r.seed)
            out.append({"kind": r.status, **base, "seed": seed, "path": r.path})
        if base["method"] in (ZERO_SHOT, "unknown"):
            continue
        seen = {int(s) for s in g["seed"].dropna()}
        for s in expected_seeds:
            if int(s) not in seen:
                out.append({"kind": "missing", **base, "seed": int(s), "path": ""})
    return pd.DataFrame(out, columns=cols)


def _not_run(df: pd.DataFrame) -> list[str]:
    """One line per (method, backbone, shots) of the few-shot protocol lacking some paper datasets."""
    lines = []
    fs = df[df["protocol"] == "fewshot"] if not df.empty else df
    if fs.empty:
        return lines
    for (method, backbone, shots), g in fs.groupby(["method", "backbone", "shots"], sort=False):
        absent = [d for d in PAPER_DATASETS if d not in set(g["dataset"])]
        if absent:
            shot_txt = "zero-shot" if int(shots) == 0 else f"{int(shots)} shots"
            text = f"- {row_label(method, backbone)}, {shot_txt}: " + ", ".join(absent)
            lines.append(
                (method_sort_key(method), not comparable(backbone), str(backbone), -int(shots), text)
            )
    return [item[-1] for item in sorted(lines)]


def missing_md(
    df: pd.DataFrame, expected_seeds: Sequence[int] = DEFAULT_SEEDS, heading_level: int = 1
) -> str:
    """The missing / crashed section (also written alone as ``missing.md``)."""
    h = "#" * heading_level
    miss = missing_runs(df, expected_seeds)
    lines = [f"{h} Missing and crashed runs", ""]
    seeds_txt = " ".join(str(s) for s in expected_seeds)
    lines.append(f"Expected seeds: {seeds_txt}. None of the runs below is included in any mean.")
    lines.append("")
    if miss.empty:
        lines += ["All expected seeds of every method/dataset that was run are finished.", ""]
    else:
        rows = []
        for r in miss.itertuples(index=False):
            shots = DASH if r.protocol != "fewshot" and int(r.shots) == 0 else str(int(r.shots))
            seed = DASH if r.seed is None or pd.isna(r.seed) else str(int(r.seed))
            protocol = f"{r.protocol} ({r.subsample_classes})" if r.subsample_classes != "all" else r.protocol
            rows.append(
                [r.kind, protocol, row_label(r.method, r.backbone), r.dataset, shots, seed, r.path or DASH]
            )
        n_m = int((miss["kind"] == "missing").sum())
        n_c = int((miss["kind"] == "crashed").sum())
        n_d = int((miss["kind"] == "conflict").sum())
        lines.append(
            f"{n_m} missing, {n_c} crashed/unfinished, {n_d} in conflict (finished runs of the same "
            "experiment and seed in two folders: keep one, move the other away; neither is averaged)."
        )
        lines.append("")
        lines.append(_md_table(["Kind", "Protocol", "Method", "Dataset", "Shots", "Seed", "Path"], rows))
        lines.append("")
    if "bad_images" in df.columns:
        skipped = df[pd.to_numeric(df["bad_images"], errors="coerce").fillna(0) > 0]
        if not skipped.empty:
            lines.append(
                f"{len(skipped)} run(s) dropped {int(skipped['bad_images'].sum())} unreadable image(s) "
                "(DATASET.SKIP_BAD_IMAGES; count per run in results_tidy.csv, paths in each results.json): "
                + ", ".join(f"{p} ({int(n)})" for p, n in zip(skipped["path"], skipped["bad_images"]))
            )
            lines.append("")
    not_run = _not_run(df)
    if not_run:
        lines += [f"{h}# Paper datasets with no run", "", *not_run, ""]
    return "\n".join(lines)


# ----------------------------------------------------------------------------- base-to-new
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
    summ = base2new_summary(df)
    lines = ["# Base-to-new generalisation", ""]
    if summ.empty:
        return "\n".join(lines + ["No base-to-new runs found.", ""])
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
    return "\n".join(lines)


# ----------------------------------------------------------------------------- domain generalisation
def dg_table_md(df: pd.DataFrame, source_shots: int = 16) -> str:
    """Source (16-shot ImageNet) and the four ImageNet variants, mean over seeds, plus their mean."""
    ok = _ok(df, "domain_generalisation")
    lines = ["# Domain generalisation (ImageNet → variants)", ""]
    if ok.empty:
        return "\n".join(lines + ["No domain-generalisation runs found.", ""])
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
    return "\n".join(lines)
