"""Figures of the mask analysis (matplotlib, Agg); each is saved as PNG and PDF."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

__all__ = ["plot_head_ratio", "plot_jaccard", "plot_masked_ratio"]

_PART_LABEL = {
    "conv1": "patch embedding (conv1)",
    "q": "attention query (in_proj q)",
    "k": "attention key (in_proj k)",
    "v": "attention value (in_proj v)",
    "out_proj": "attention output (out_proj)",
    "mlp_fc": "MLP c_fc",
    "mlp_proj": "MLP c_proj",
}


def _plt():
    import matplotlib  # local import: matplotlib only for plots, its backend set before pyplot

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt  # local import: after the backend choice

    return plt


def _save(fig, out_dir: str, stem: str) -> list[str]:
    paths = []
    for ext in ("png", "pdf"):
        path = os.path.join(out_dir, f"{stem}.{ext}")
        tmp = f"{path}.tmp{os.getpid()}.{ext}"
        fig.savefig(tmp, dpi=150, bbox_inches="tight")
        os.replace(tmp, path)
        paths.append(path)
    _plt().close(fig)
    return paths


def plot_masked_ratio(tensors: pd.DataFrame, out_dir: str, max_groups: int = 10) -> list[str]:
    """Masked ratio per block, one panel per part; one line per group (mean over its seeds, min-max band).

    With more than ``max_groups`` groups, one line: the mean over all runs (band: min-max over runs).
    """
    plt = _plt()
    parts = [p for p in ("q", "k", "v", "out_proj", "mlp_fc", "mlp_proj") if p in set(tensors["part"])]
    conv = tensors[tensors["part"] == "conv1"]
    groups = list(dict.fromkeys(tensors["group"]))
    many = len(groups) > max_groups
    n_panels = len(parts) + (1 if len(conv) else 0)
    ncols = min(3, max(1, n_panels))
    nrows = int(np.ceil(n_panels / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.6 * ncols, 3.4 * nrows), squeeze=False)
    flat_axes = axes.reshape(-1)
    colors = plt.get_cmap("tab10")
    for ax, part in zip(flat_axes, parts):
        d = tensors[tensors["part"] == part]
        series = [("all runs", d)] if many else [(g, d[d["group"] == g]) for g in groups]
        for i, (name, dg) in enumerate(series):
            stats = dg.groupby("block")["masked_pct"].agg(["mean", "min", "max", "count"]).sort_index()
            x = stats.index.to_numpy()
            ax.plot(x, stats["mean"], marker="o", ms=3.5, lw=1.6, color=colors(i % 10), label=name)
            if (stats["count"] > 1).any():
                ax.fill_between(x, stats["min"], stats["max"], color=colors(i % 10), alpha=0.18, lw=0)
        ax.set_title(_PART_LABEL[part], fontsize=10)
        ax.set_xlabel("transformer block")
        ax.set_ylabel("masked entries (%)")
        blocks = sorted(d["block"].unique())
        ax.set_xticks(blocks if len(blocks) <= 16 else blocks[:: int(np.ceil(len(blocks) / 12))])
        ax.grid(alpha=0.3)
        ax.set_ylim(bottom=0)
    if len(conv):
        ax = flat_axes[len(parts)]
        if many:
            vals = [conv["masked_pct"].mean()]
            names = ["all runs"]
        else:
            vals = [conv[conv["group"] == g]["masked_pct"].mean() for g in groups]
            names = groups
        ax.bar(range(len(vals)), vals, color=[colors(i % 10) for i in range(len(vals))])
        ax.set_xticks(range(len(vals)))
        ax.set_xticklabels(names, rotation=30, ha="right", fontsize=8)
        ax.set_title(_PART_LABEL["conv1"], fontsize=10)
        ax.set_ylabel("masked entries (%)")
        ax.grid(alpha=0.3, axis="y")
    for ax in flat_axes[n_panels:]:
        ax.set_visible(False)
    handles, labels = flat_axes[0].get_legend_handles_labels()
    n_runs = tensors["label"].nunique()
    title = f"Masked ratio per block and tensor ({n_runs} run{'s' if n_runs != 1 else ''}"
    title += ", mean over all runs, band = min-max)" if many else "; line = mean over seeds, band = min-max)"
    fig.suptitle(title, fontsize=11)
    if labels:
        fig.legend(handles, labels, loc="lower center", ncol=min(4, len(labels)), fontsize=8, frameon=False)
        fig.tight_layout(rect=(0, 0.04 + 0.025 * ((len(labels) - 1) // 4), 1, 0.97))
    else:
        fig.tight_layout(rect=(0, 0, 1, 0.97))
    return _save(fig, out_dir, "masked_ratio")


def plot_head_ratio(heads: pd.DataFrame, out_dir: str) -> list[str]:
    """Heat maps (block x head) of the masked ratio of q, k, v and out_proj, mean over all runs."""
    plt = _plt()
    parts = [p for p in ("q", "k", "v", "out_proj") if p in set(heads["part"])]
    mean = heads.groupby(["part", "block", "head"])["masked_pct"].mean()
    n_blocks = heads["block"].nunique()
    n_heads = heads["head"].nunique()
    vmax = max(float(mean.max()), 1e-9)
    annotate = n_blocks * n_heads <= 200
    cell_w = max(0.42, min(0.9, 9.0 / n_heads))
    ncols = len(parts) if n_heads * len(parts) <= 24 else 2
    nrows = int(np.ceil(len(parts) / ncols))
    fig, axes = plt.subplots(
        nrows,
        ncols,
        figsize=(1.2 + (cell_w * n_heads + 0.9) * ncols + 1.0, 0.9 + (0.9 + 0.34 * n_blocks) * nrows),
        squeeze=False,
    )
    im = None
    for ax in axes.reshape(-1)[len(parts) :]:
        ax.set_visible(False)
    for ax, part in zip(axes.reshape(-1), parts):
        grid = mean.loc[part].unstack("head").sort_index()
        im = ax.imshow(grid.to_numpy(), cmap="viridis", vmin=0.0, vmax=vmax, aspect="auto")
        ax.set_title(_PART_LABEL[part].replace("attention ", ""), fontsize=10)
        ax.set_xlabel("head")
        ax.set_xticks(range(grid.shape[1]))
        ax.set_xticklabels(grid.columns, fontsize=8)
        ax.set_yticks(range(grid.shape[0]))
        ax.set_yticklabels(grid.index, fontsize=8)
        if annotate:
            for (r, c), v in np.ndenumerate(grid.to_numpy()):
                text = f"{v:.1f}" if v >= 1 or v == 0 else f"{v:.2g}"
                color = "white" if v < 0.6 * vmax else "black"
                ax.text(c, r, text, ha="center", va="center", fontsize=7, color=color)
    for row in axes:
        row[0].set_ylabel("transformer block")
    n_runs = heads["label"].nunique()
    fig.suptitle(
        f"Masked entries per attention head (%), mean over {n_runs} run{'s' if n_runs != 1 else ''}",
        fontsize=11,
    )
    fig.tight_layout(rect=(0, 0, 0.93, 0.95))
    cax = fig.add_axes((0.945, 0.15, 0.015, 0.7))
    fig.colorbar(im, cax=cax, label="masked (%)")
    return _save(fig, out_dir, "head_ratio")


def plot_jaccard(matrix: pd.DataFrame, out_dir: str, stem: str, title: str) -> list[str]:
    """A Jaccard heat map (NaN cells: not comparable / nothing masked, shown grey)."""
    plt = _plt()
    n = len(matrix)
    size = min(22.0, 2.5 + 0.42 * n)
    fig, ax = plt.subplots(figsize=(size + 1.5, size))
    cmap = plt.get_cmap("magma").with_extremes(bad="#cccccc")
    data = np.ma.masked_invalid(matrix.to_numpy(dtype=float))
    im = ax.imshow(data, cmap=cmap, vmin=0.0, vmax=1.0)
    fs = 9 if n <= 12 else (7 if n <= 30 else 5)
    ax.set_xticks(range(n))
    ax.set_xticklabels(matrix.columns, rotation=60, ha="right", fontsize=fs)
    ax.set_yticks(range(n))
    ax.set_yticklabels(matrix.index, fontsize=fs)
    if n <= 16:
        for (r, c), v in np.ndenumerate(matrix.to_numpy(dtype=float)):
            if np.isfinite(v):
                ax.text(
                    c,
                    r,
                    f"{v:.2f}",
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="white" if v < 0.55 else "black",
                )
    ax.set_title(title + "\n(grey: not comparable, or nothing masked)", fontsize=10)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="Jaccard")
    fig.tight_layout()
    return _save(fig, out_dir, stem)
