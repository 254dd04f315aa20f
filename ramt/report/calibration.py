"""The report's calibration section: ECE / NLL / worst classes table and reliability diagrams.

Read from each run's results.json (format 2: ``calibration`` with the 15-bin histogram,
``per_class`` with the five worst classes). Seeds are averaged; the reliability diagram of a
method on a dataset pools the bins of its seeds at the largest shot count it was run with.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ramt.record import RecordError, read_results

__all__ = ["calibration_frame", "calibration_md", "plot_reliability"]


def calibration_frame(df: pd.DataFrame) -> pd.DataFrame:
    """One row per finished run with calibration: method, dataset, shots, seed, backbone, ece, nll, bins, worst."""
    rows = []
    if df.empty:
        return pd.DataFrame(rows)
    ok = df[(df["status"] == "ok") & (df["protocol"] == "fewshot") & (df["source"] == "results.json")]
    for r in ok.itertuples():
        try:
            rec = read_results(r.path)
        except (OSError, RecordError):
            continue
        cal = rec.calibration
        if not cal:
            continue
        worst = (rec.per_class or {}).get("worst") or []
        rows.append(
            {
                "method": r.method,
                "dataset": r.dataset,
                "shots": int(r.shots),
                "seed": r.seed,
                "backbone": r.backbone,
                "accuracy": r.accuracy,
                "ece": float(cal["ece"]),
                "nll": float(cal["nll"]),
                "n_bins": int(cal["n_bins"]),
                "bins": cal["bins"],
                "worst": ", ".join(f"{w['name'] or w['label']} ({w['accuracy']:.0f}%)" for w in worst),
            }
        )
    return pd.DataFrame(rows)


def calibration_md(cal: pd.DataFrame) -> str:
    """The calibration table: mean ECE / NLL / accuracy over seeds and the five worst classes of the first seed."""
    lines = [
        "# Calibration",
        "",
        "Expected calibration error (ECE, %, 15 equal-width confidence bins, L1, torchmetrics) and negative "
        "log-likelihood (NLL, nats per image) of the final test, mean over seeds; the five classes with the "
        "lowest accuracy (in the first seed). Reliability diagrams are under Figures.",
        "",
    ]
    if cal.empty:
        return (
            "\n".join(
                lines + ["No run with calibration results yet (runs made before results.json format 2)."]
            )
            + "\n"
        )
    lines += [
        "| Method | Dataset | K | Backbone | Seeds | Accuracy | ECE (%) | NLL | Worst classes |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for (method, dataset, shots, backbone), g in cal.groupby(
        ["method", "dataset", "shots", "backbone"], sort=True
    ):
        g = g.sort_values("seed")
        lines.append(
            f"| {method} | {dataset} | {shots} | {backbone} | {len(g)} | {g['accuracy'].mean():.2f} | "
            f"{g['ece'].mean():.2f} | {g['nll'].mean():.3f} | {g['worst'].iloc[0]} |"
        )
    return "\n".join(lines) + "\n"


def _pooled_bins(g: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Counts, mean confidence and accuracy per bin over the runs of ``g`` (count-weighted)."""
    counts = np.array([b["count"] for b in g["bins"]], dtype=float)
    conf = np.array([b["confidence"] for b in g["bins"]], dtype=float)
    acc = np.array([b["accuracy"] for b in g["bins"]], dtype=float)
    total = counts.sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return total, (conf * counts).sum(0) / total, (acc * counts).sum(0) / total


def plot_reliability(cal: pd.DataFrame, out: Path) -> list[Path]:
    """``reliability_<dataset>.png``: one line per method (its largest K, seeds pooled) against the diagonal."""
    if cal.empty:
        return []
    # imported here as in report/__init__: ``--no-plots`` never loads matplotlib
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    for dataset, d in cal.groupby("dataset", sort=True):
        fig, ax = plt.subplots(figsize=(4.6, 4.2))
        ax.plot([0, 1], [0, 1], color="#999", linestyle="--", linewidth=1, label="perfect calibration")
        for (method, backbone), g in d.groupby(["method", "backbone"], sort=True):
            k = g["shots"].max()
            g = g[g["shots"] == k]
            total, conf, acc = _pooled_bins(g)
            keep = total > 0
            ece = g["ece"].mean()
            name = f"{method} [{backbone}]" if d["backbone"].nunique() > 1 else method
            label = f"{name} ({k} shots, ECE {ece:.1f}%)"
            ax.plot(conf[keep], acc[keep], marker="o", markersize=3, label=label)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel("confidence (15 bins)")
        ax.set_ylabel("accuracy")
        ax.set_title(f"Reliability: {dataset}")
        ax.legend(fontsize=7, loc="upper left")
        fig.tight_layout()
        path = out / f"reliability_{str(dataset).replace(' ', '_').replace('/', '_')}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)
    return paths
