"""Few-shot curves: accuracy vs shots (1/2/4/8/16), one line per method, published values dashed.

One figure per dataset (``fewshot_<dataset>.png/.pdf``) and one for the average
(``fewshot_average.png/.pdf``). The average curve of a method uses only the datasets that the
method has at *every* plotted shot count, so that points of one curve never mix dataset sets; the
legend says how many datasets that is.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from ramt.methods import PAPER_DATASETS, PUBLISHED_NAME, dataset_sort_key  # noqa: E402
from ramt.published import published_lookup  # noqa: E402
from ramt.report.tables import _published, _published_average, _rows, comparable, fewshot_summary, row_label  # noqa: E402

__all__ = ["plot_fewshot", "safe_name"]

SHOTS = (1, 2, 4, 8, 16)


def safe_name(name: str) -> str:
    """A file-name-safe lower-case version of a dataset name (``ImageNet-V2`` -> ``imagenet-v2``)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).lower()


def _save(fig, out_dir: Path, stem: str) -> list[Path]:
    paths = []
    for ext in ("png", "pdf"):
        p = out_dir / f"{stem}.{ext}"
        fig.savefig(p, dpi=120 if ext == "png" else None, bbox_inches="tight")
        paths.append(p)
    plt.close(fig)
    return paths


def _axes(title: str):
    fig, ax = plt.subplots(figsize=(5.2, 4.0))
    ax.set_xscale("log", base=2)
    ax.set_xticks(list(SHOTS))
    ax.set_xticklabels([str(k) for k in SHOTS])
    ax.set_xlim(0.8, 20)
    ax.set_xlabel("shots per class")
    ax.set_ylabel("top-1 accuracy (%)")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    return fig, ax


def _draw(ax, color, label, xs, ys, errs, pub_xs, pub_ys, zero_shot, pub_label):
    if zero_shot:
        if ys:
            ax.axhline(ys[0], color=color, linestyle=":", linewidth=1.5, label=label)
        if pub_ys:
            ax.axhline(pub_ys[0], color=color, linestyle="--", linewidth=1.0, alpha=0.7, label=pub_label)
        return
    if xs:
        ax.errorbar(xs, ys, yerr=errs, color=color, marker="o", linewidth=1.5, capsize=3, label=label)
    if pub_xs:
        ax.plot(pub_xs, pub_ys, color=color, linestyle="--", marker="x", alpha=0.7, label=pub_label)


def plot_fewshot(df: pd.DataFrame, out_dir: str | Path, with_published: bool = True) -> list[Path]:
    """Write the per-dataset and average few-shot plots; returns the files written."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    summ = fewshot_summary(df, with_published=with_published)
    if summ.empty:
        return []
    pub = published_lookup() if with_published else {}
    rows = _rows(summ)
    cmap = plt.get_cmap("tab10")
    colors = {r: cmap(i % 10) for i, r in enumerate(rows)}
    written: list[Path] = []

    for dataset in sorted(set(summ["dataset"]), key=dataset_sort_key):
        fig, ax = _axes(dataset)
        for method, backbone in rows:
            g = summ[
                (summ["method"] == method) & (summ["backbone"] == backbone) & (summ["dataset"] == dataset)
            ]
            g = g.sort_values("shots")
            zero = method == "ZeroShotCLIP"
            pub_xs, pub_ys = [], []
            if with_published and method in PUBLISHED_NAME and (not g.empty or dataset in PAPER_DATASETS):
                for k in SHOTS[:1] if zero else SHOTS:
                    v = _published(pub, method, dataset, k)
                    if v is not None:
                        pub_xs.append(k)
                        pub_ys.append(v)
            if g.empty and not pub_xs:
                continue
            if g.empty and not comparable(backbone):
                continue
            _draw(
                ax,
                colors[(method, backbone)],
                row_label(method, backbone),
                [int(k) for k in g["shots"]],
                list(g["mean"]),
                list(g["std"]),
                pub_xs,
                pub_ys,
                zero,
                f"{method} (published)",
            )
        ax.legend(fontsize=7, loc="best")
        written += _save(fig, out_dir, f"fewshot_{safe_name(dataset)}")

    fig, ax = _axes("Average")
    for method, backbone in rows:
        g = summ[(summ["method"] == method) & (summ["backbone"] == backbone)]
        shots = sorted(set(int(k) for k in g["shots"]))
        common = set.intersection(*(set(g[g["shots"] == k]["dataset"]) for k in shots))
        common_list = sorted(common, key=dataset_sort_key)
        if not common_list:
            continue
        xs, ys = [], []
        for k in shots:
            gk = g[(g["shots"] == k) & (g["dataset"].isin(common))]
            xs.append(k)
            ys.append(float(np.mean(gk["mean"])))
        pub_xs, pub_ys = [], []
        zero = method == "ZeroShotCLIP"
        if with_published and method in PUBLISHED_NAME:
            for k in SHOTS[:1] if zero else SHOTS:
                v, _ = _published_average(pub, method, k, common_list)
                if v is not None and not math.isnan(v):
                    pub_xs.append(k)
                    pub_ys.append(v)
        n = len(common_list)
        _draw(
            ax,
            colors[(method, backbone)],
            f"{row_label(method, backbone)} ({n} dataset{'s' if n != 1 else ''})",
            xs,
            ys,
            [0.0] * len(xs),
            pub_xs,
            pub_ys,
            zero,
            f"{method} (published, same datasets)",
        )
    ax.legend(fontsize=7, loc="best")
    written += _save(fig, out_dir, "fewshot_average")
    return written
