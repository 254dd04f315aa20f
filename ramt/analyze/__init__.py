"""Mask analysis: which blocks, tensors and heads R-AMT masks, and how much masks overlap.

    python -m ramt.analyze RUN_DIR [RUN_DIR ...] [--out DIR] [--head-width N]

Each argument is an R-AMT run folder, a mask file (``python -m ramt.export RUN --format masks``)
or any tree holding them (e.g. ``output/`` or ``output/digits``; it is walked). Written to
``--out`` (default ``<the one folder given>/mask_analysis``, or ``./mask_analysis``):

- ``runs.csv``: one row per run (label, dataset, shots, seed, method, backbone, layers, masked %)
- ``masked_ratio_tensors.csv`` + ``masked_ratio.png/.pdf``: masked ratio per block and tensor
  (``q``/``k``/``v`` of the packed in-projection separately, ``out_proj``, ``conv1``, MLP)
- ``masked_ratio_heads.csv`` + ``head_ratio.png/.pdf``: per attention head
- ``jaccard_pairs.csv``, ``jaccard_matrix.csv``, ``jaccard_summary.csv`` + ``jaccard_runs.png/.pdf``
  (and ``jaccard_groups.png/.pdf`` for several groups): overlap of the masked-out entries between
  seeds, shots and datasets

See :mod:`ramt.analyze.stats` for the definitions (block -1 is the patch embedding ``conv1``).
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
from collections.abc import Sequence
from typing import Optional

import numpy as np
import pandas as pd
from tqdm import tqdm

from .plots import plot_head_ratio, plot_jaccard, plot_masked_ratio
from .runs import MaskRun, find_mask_runs, head_width_for, load_mask_run
from .stats import head_rows, jaccard_counts, packed_zero_set, tensor_rows

__all__ = ["MaskRun", "analyze", "build_parser", "find_mask_runs", "load_mask_run", "main", "pair_relation"]

MARKER = ".ramt_mask_analysis"
_RELATION_KEYS = ("dataset", "shots", "seed", "method", "backbone")


def pair_relation(a: dict, b: dict) -> str:
    """How two runs differ: ``seeds``, ``shots``, ``datasets`` (only that key), ``same`` or ``other``."""
    diff = [k for k in _RELATION_KEYS if a.get(k) != b.get(k)]
    if not diff:
        return "same"
    if len(diff) == 1:
        return {"seed": "seeds", "shots": "shots", "dataset": "datasets"}.get(diff[0], "other")
    return "other"


def _labels(paths: Sequence[str]) -> list[str]:
    if not paths:
        return []
    if len(paths) == 1:
        parts = os.path.normpath(paths[0]).split(os.sep)
        return [os.path.join(*parts[-4:])]
    common = os.path.commonpath([os.path.abspath(p) for p in paths])
    return [
        os.path.relpath(p, common) if os.path.abspath(p) != common else os.path.basename(p) for p in paths
    ]


def default_out_dir(inputs: Sequence[str]) -> str:
    if len(inputs) == 1 and os.path.isdir(inputs[0]):
        return os.path.join(inputs[0], "mask_analysis")
    return "mask_analysis"


def _prepare_out_dir(out: str) -> None:
    if os.path.isdir(out) and os.listdir(out) and not os.path.isfile(os.path.join(out, MARKER)):
        raise FileExistsError(
            f"{out} exists and holds files not written by ramt.analyze; pass another --out folder "
            "(nothing was overwritten)."
        )
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, MARKER), "w") as f:
        f.write("written by python -m ramt.analyze; its files are replaced on the next run\n")


def _write_csv(df: pd.DataFrame, path: str, **kwargs) -> str:
    tmp = f"{path}.tmp{os.getpid()}"
    df.to_csv(tmp, **kwargs)
    os.replace(tmp, path)
    return path


def _group_matrix(matrix: pd.DataFrame, groups: list[str]) -> pd.DataFrame:
    """Mean Jaccard between groups; the diagonal is the mean over distinct runs of the same group."""
    names = list(dict.fromkeys(groups))
    vals = matrix.to_numpy(dtype=float)
    idx = {g: [i for i, x in enumerate(groups) if x == g] for g in names}
    out = np.full((len(names), len(names)), np.nan)
    for a, ga in enumerate(names):
        for b, gb in enumerate(names):
            cells = [vals[i, j] for i in idx[ga] for j in idx[gb] if i != j]
            cells = [c for c in cells if np.isfinite(c)]
            if cells:
                out[a, b] = float(np.mean(cells))
    return pd.DataFrame(out, index=names, columns=names)


def warn_skipped(skipped: list[str], any_read: bool) -> None:
    """One warning per unreadable run; an error when no run could be read at all."""
    if skipped and not any_read:
        more = f" (and {len(skipped) - 1} more unreadable run(s))" if len(skipped) > 1 else ""
        raise ValueError(f"No readable mask run: {skipped[0]}{more}")
    for line in skipped:
        print(f"Warning: skipping the run {line}", file=sys.stderr)


def analyze(
    inputs: Sequence[str], out: Optional[str] = None, head_width: Optional[int] = None, plots: bool = True
) -> dict[str, str]:
    """Run the analysis over ``inputs`` and write the files; returns ``{file name: path}``."""
    paths = find_mask_runs(inputs)
    if not paths:
        raise FileNotFoundError(
            f"No mask runs under {', '.join(map(str, inputs))}: no folder with a shared/checkpoint pointer and no "
            "R-AMT mask file (.safetensors). Train R-AMT first (bash scripts/ramt/main.sh ...)."
        )
    out = out or default_out_dir(inputs)
    _prepare_out_dir(out)
    labels = _labels(paths)
    run_rows, t_rows, h_rows, zero_sets, layouts, metas = [], [], [], [], [], []
    skipped: list[str] = []
    for path, label in tqdm(
        list(zip(paths, labels)), desc="reading masks", unit="run", disable=len(paths) < 3, file=sys.stderr
    ):
        try:
            run = load_mask_run(path)
        except (ValueError, OSError) as err:  # a damaged, foreign or pickled checkpoint: skip that run
            skipped.append(f"{path}: {err}")
            continue
        run.label = label
        meta = run.meta
        hw = head_width or meta.get("head_width") or head_width_for(meta.get("backbone", ""))
        ident = {"label": label, "group": run.group}
        tr = tensor_rows(run.masks)
        zeros = sum(r["zeros"] for r in tr)
        total = sum(r["total"] for r in tr)
        run_rows.append(
            {
                **ident,
                "dataset": meta.get("dataset"),
                "shots": meta.get("shots"),
                "seed": meta.get("seed"),
                "method": meta.get("method"),
                "backbone": meta.get("backbone"),
                "pretrained": meta.get("pretrained"),
                "layers": " ".join(meta.get("layers") or []),
                "threshold": meta.get("threshold"),
                "head_width": hw,
                "zeros": zeros,
                "total": total,
                "masked_pct": 100.0 * zeros / total if total else float("nan"),
                "fingerprint": meta.get("fingerprint"),
                "source": run.source,
            }
        )
        t_rows += [{**ident, **r} for r in tr]
        h_rows += [{**ident, **r} for r in head_rows(run.masks, int(hw))]
        zero_sets.append(packed_zero_set(run.masks))
        layouts.append(run.layout)
        metas.append(meta)
        del run  # keep only the packed zero set of each run in memory

    warn_skipped(skipped, bool(run_rows))
    labels = [r["label"] for r in run_rows]

    # Order runs by dataset, shots (numerically), method, seed, so tables and plots read naturally.
    def _key(i: int):
        m = metas[i]
        shots = m.get("shots")
        return (
            str(m.get("dataset") or ""),
            shots if isinstance(shots, int) else 10**9,
            str(m.get("method") or ""),
            m.get("seed") if isinstance(m.get("seed"), int) else 10**9,
            labels[i],
        )

    order = sorted(range(len(run_rows)), key=_key)
    rank = {labels[i]: r for r, i in enumerate(order)}
    labels = [labels[i] for i in order]
    zero_sets, layouts, metas = ([xs[i] for i in order] for xs in (zero_sets, layouts, metas))
    run_rows = [run_rows[i] for i in order]
    t_rows.sort(key=lambda r: rank[r["label"]])  # stable: keeps the block/part order inside a run
    h_rows.sort(key=lambda r: rank[r["label"]])

    files: dict[str, str] = {}
    runs_df = pd.DataFrame(run_rows)
    tensors = pd.DataFrame(t_rows)
    heads = pd.DataFrame(h_rows)
    files["runs.csv"] = _write_csv(runs_df, os.path.join(out, "runs.csv"), index=False, float_format="%.10g")
    files["masked_ratio_tensors.csv"] = _write_csv(
        tensors, os.path.join(out, "masked_ratio_tensors.csv"), index=False, float_format="%.10g"
    )
    files["masked_ratio_heads.csv"] = _write_csv(
        heads, os.path.join(out, "masked_ratio_heads.csv"), index=False, float_format="%.10g"
    )

    matrix_df, pairs_df, summary = jaccard_tables(labels, zero_sets, layouts, metas)
    for name, df, kw in (
        ("jaccard_pairs.csv", pairs_df, {"index": False}),
        ("jaccard_matrix.csv", matrix_df, {}),
        ("jaccard_summary.csv", summary, {"index": False}),
    ):
        files[name] = _write_csv(df, os.path.join(out, name), float_format="%.10g", **kw)
    if plots:
        files.update(_write_plots(runs_df, tensors, heads, matrix_df, out))
    return files


def jaccard_tables(
    labels: Sequence[str], zero_sets: Sequence[np.ndarray], layouts: Sequence[tuple], metas: Sequence[dict]
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """``(matrix, pairs, summary)``: the Jaccard matrix over runs, one row per pair (with its relation:
    seeds / shots / datasets / same / other / not comparable), and the mean per relation."""
    n = len(labels)
    matrix = np.full((n, n), np.nan)
    pairs = []
    combos = list(itertools.combinations(range(n), 2))
    for i, j in tqdm(combos, desc="Jaccard", unit="pair", disable=len(combos) < 200, file=sys.stderr):
        row = {"run_a": labels[i], "run_b": labels[j]}
        if layouts[i] != layouts[j]:
            pairs.append(
                {**row, "relation": "not comparable", "intersection": None, "union": None, "jaccard": None}
            )
            continue
        inter, union, jac = jaccard_counts(zero_sets[i], zero_sets[j])
        matrix[i, j] = matrix[j, i] = jac
        rel = pair_relation(metas[i], metas[j])
        pairs.append({**row, "relation": rel, "intersection": inter, "union": union, "jaccard": jac})
    for i in range(n):
        matrix[i, i] = 1.0 if zero_sets[i].any() else np.nan
    matrix_df = pd.DataFrame(matrix, index=list(labels), columns=list(labels))
    pairs_df = pd.DataFrame(pairs, columns=["run_a", "run_b", "relation", "intersection", "union", "jaccard"])
    comparable = pairs_df[pairs_df["relation"] != "not comparable"]
    summary = (
        comparable.assign(jaccard=comparable["jaccard"].astype(float))
        .groupby("relation")["jaccard"]
        .agg(pairs="size", mean="mean", std="std", min="min", max="max")
        .reset_index()
    )
    return matrix_df, pairs_df, summary


def _write_plots(runs_df, tensors, heads, matrix_df, out: str) -> dict[str, str]:
    files = {"masked_ratio.png": plot_masked_ratio(tensors, out)[0]}
    if len(heads):
        files["head_ratio.png"] = plot_head_ratio(heads, out)[0]
    n = len(runs_df)
    if n >= 2:
        short = _short_labels(runs_df)
        shown = matrix_df.set_axis(short, axis=0).set_axis(short, axis=1)
        if n <= 80:
            files["jaccard_runs.png"] = plot_jaccard(
                shown, out, "jaccard_runs", f"Jaccard overlap of masked-out entries between {n} runs"
            )[0]
        groups = list(runs_df["group"])
        if len(set(groups)) >= 2:
            gm = _group_matrix(matrix_df, groups)
            files["jaccard_groups.png"] = plot_jaccard(
                gm,
                out,
                "jaccard_groups",
                "Mean Jaccard overlap of masked-out entries between groups\n(diagonal: between the seeds of a group)",
            )[0]

    return files


def _short_labels(runs_df: pd.DataFrame) -> list[str]:
    """``group seed S`` when that identifies every run, else the path labels."""
    short = [
        f"{g} seed{s}" if s is not None and not pd.isna(s) else g
        for g, s in zip(runs_df["group"], runs_df["seed"])
    ]
    return short if len(set(short)) == len(short) else list(runs_df["label"])


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m ramt.analyze",
        description="Masked ratio per block, tensor (q/k/v/out_proj/conv1/MLP) and attention head, and the "
        "Jaccard overlap of masks between seeds, shots and datasets (CSV + PNG/PDF).",
    )
    p.add_argument("inputs", nargs="+", metavar="RUN_DIR", help="run folders, mask files or output trees")
    p.add_argument("--out", default=None, help="output folder (default RUN_DIR/mask_analysis)")
    p.add_argument(
        "--head-width",
        type=int,
        default=None,
        help="attention head width of the image encoder (default: from the backbone, 64 for OpenAI ViTs)",
    )
    p.add_argument("--no-plots", action="store_true", help="write the CSV files only")
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        files = analyze(args.inputs, args.out, args.head_width, plots=not args.no_plots)
    except (FileNotFoundError, FileExistsError, ValueError) as err:
        print(f"ERROR: {err}", file=sys.stderr)
        return 2
    out = os.path.dirname(next(iter(files.values())))
    print(f"Mask analysis of {len(pd.read_csv(files['runs.csv']))} run(s) written to {out}:")
    for name in files:
        print(f"  {name}")
    return 0
