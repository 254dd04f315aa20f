"""The missing / crashed / conflicting runs section (``missing.md``)."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from ramt.methods import PAPER_DATASETS, method_sort_key
from ramt.published import ZERO_SHOT
from ramt.report.tables.common import DASH, DEFAULT_SEEDS, Block, _md_table, comparable, render_md, row_label


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
    return render_md(missing_blocks(df, expected_seeds, heading_level))


def missing_blocks(
    df: pd.DataFrame, expected_seeds: Sequence[int] = DEFAULT_SEEDS, heading_level: int = 1
) -> list[Block]:
    """The blocks of :func:`missing_md`."""
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
    return lines
