"""Report figures: few-shot curves, base-to-new and domain-generalisation bar charts (PNG + PDF).

Few-shot curves (``fewshot_<dataset>`` and ``fewshot_average``): accuracy against shots on a log2
axis, one line per row of the few-shot table. Colours follow the Okabe-Ito colour-blind-safe
palette with one colour per method *family* (``Method.family`` in the registry: CoOp, Tip-Adapter,
mask tuning, the combinations; a plugin's new family gets a fixed palette colour from its name);
markers tell the variants of a family apart (Tip-Adapter / -F, R-AMT / AMT / R-MMT ...); a
non-default selection protocol has hollow markers, a backbone other than ViT-B/16 (†) a dotted line.
The published curve of the same method is dashed in the same colour. Rows are shifted slightly
along x so that error bars (population std over seeds) do not overlap; the legend (outside the
axes) gives the number of seeds, and the caption under the axes explains the marks.

The average curve of a row uses only the datasets the row has at *every* plotted shot count, so
that points of one curve never mix dataset sets (the legend says how many); its error bar is
``sqrt(Σ_d s_d²) / D``, the seed std of a one-seed average if datasets vary independently.
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

from ramt.methods import (  # noqa: E402
    DG_TARGETS,
    FAMILY_COLOURS,
    PUBLISHED_NAME,
    base_label,
    dataset_sort_key,
    family_colour,
    method_for_label,
    method_sort_key,
)
from ramt.published import ZERO_SHOT, published_value  # noqa: E402
from ramt.report.compare import published_average  # noqa: E402
from ramt.report.tables import (  # noqa: E402
    DEFAULT_SELECTION,
    NOT_COMPARABLE,
    USES_TEST,
    _ok,
    _rows,
    base2new_summary,
    comparable,
    dg_source_runs,
    fewshot_summary,
    row_keys,
    row_label,
    seed_stats,
    select_row,
)

__all__ = [
    "FAMILY_COLOURS",
    "method_family",
    "plot_base2new",
    "plot_dg",
    "plot_fewshot",
    "row_style",
    "safe_name",
]

SHOTS = (1, 2, 4, 8, 16)
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">")


def safe_name(name: str) -> str:
    """A file-name-safe lower-case version of a dataset name (``ImageNet-V2`` -> ``imagenet-v2``)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).lower()


def method_family(method: str) -> str:
    """The colour family of a row label, from the method registry (``Tip-Adapter-F+R-AMT`` ->
    ``Tip-Adapter + mask tuning``); a label no method claims is its own family."""
    entry = method_for_label(method)
    return entry.family if entry is not None else base_label(method)


def row_style(keys: list[tuple[str, str, str]]) -> dict[tuple[str, str, str], dict]:
    """Colour (family), marker (variant within the family), fill (protocol) and line (backbone) per row."""
    styles: dict[tuple[str, str, str], dict] = {}
    variants: dict[str, list[str]] = {}
    for method, _b, _s in sorted(keys, key=lambda k: method_sort_key(k[0])):
        fam = variants.setdefault(method_family(method), [])
        if method not in fam:
            fam.append(method)
    for key in keys:
        method, backbone, selection = key
        family = method_family(method)
        colour = family_colour(family)
        styles[key] = {
            "color": colour,
            "marker": _MARKERS[variants[family].index(method) % len(_MARKERS)],
            "markerfacecolor": "white" if selection != DEFAULT_SELECTION else colour,
            "linestyle": "-" if comparable(backbone) else ":",
        }
    return styles


def _save(fig, out_dir: Path, stem: str) -> list[Path]:
    paths = []
    for ext in ("png", "pdf"):
        p = out_dir / f"{stem}.{ext}"
        tmp = p.with_name(f".{p.stem}.tmp.{ext}")
        fig.savefig(tmp, dpi=130 if ext == "png" else None, bbox_inches="tight")
        tmp.replace(p)
        paths.append(p)
    plt.close(fig)
    return paths


def _axes(title: str):
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    ax.set_xscale("log", base=2)
    ax.set_xticks(list(SHOTS))
    ax.set_xticklabels([str(k) for k in SHOTS])
    ax.set_xlim(0.75, 21)
    ax.set_xlabel("shots per class")
    ax.set_ylabel("top-1 accuracy (%)")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    return fig, ax


def _seeds_text(ns: list[int]) -> str:
    if not ns:
        return ""
    lo, hi = min(ns), max(ns)
    if lo == hi:
        return f"{lo} seed{'s' if lo != 1 else ''}"
    return f"{lo}–{hi} seeds"


def _caption(fig, ax, has_dagger: bool, has_protocol: bool, average: bool) -> None:
    parts = [
        "Solid: ours, mean over seeds, error bar = std over seeds"
        + (" (average: √Σs²/D)" if average else "")
        + "; dashed, same colour: published.",
        "Points are shifted slightly along x so that error bars do not overlap.",
    ]
    if has_protocol:
        parts.append(
            f"Hollow markers: non-default selection protocol; {USES_TEST} test data used for selection."
        )
    if has_dagger:
        parts.append(
            f"{NOT_COMPARABLE} dotted: backbone is not ViT-B/16, not comparable with the published curves."
        )
    fig.text(0.0, -0.15, "\n".join(parts), ha="left", va="top", fontsize=7, transform=ax.transAxes)


def _offsets(n: int, width: float = 0.05) -> list[float]:
    """Multiplicative x-offsets (log2 axis) for ``n`` rows, centred on the true shot count."""
    return [2 ** ((i - (n - 1) / 2) * width) for i in range(n)]


def _legend(ax, published: bool) -> None:
    from matplotlib.lines import Line2D

    handles, labels = ax.get_legend_handles_labels()
    if published:
        handles.append(Line2D([], [], color="0.35", linestyle="--", marker="o", markerfacecolor="none"))
        labels.append("published (dashed, same colour)")
    if handles:
        ax.legend(handles, labels, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)


def _plot_row(ax, style, label, xs, ys, errs, pub_xs, pub_ys, zero_shot, offset) -> None:
    colour = style["color"]
    if zero_shot:
        if ys:
            ax.axhline(ys[0], color=colour, linestyle=":", linewidth=1.4, label=label)
        if pub_ys:
            ax.axhline(pub_ys[0], color=colour, linestyle="--", linewidth=1.0, alpha=0.7)
        return
    if xs:
        ax.errorbar(
            [x * offset for x in xs],
            ys,
            yerr=errs,
            color=colour,
            marker=style["marker"],
            markerfacecolor=style["markerfacecolor"],
            markersize=5,
            linestyle=style["linestyle"],
            linewidth=1.5,
            capsize=2.5,
            elinewidth=1.0,
            label=label,
        )
    if pub_xs:
        ax.plot(
            pub_xs,
            pub_ys,
            color=colour,
            linestyle="--",
            marker=style["marker"],
            markerfacecolor="none",
            markersize=4,
            linewidth=1.0,
            alpha=0.75,
        )


def plot_fewshot(df: pd.DataFrame, out_dir: str | Path, with_published: bool = True) -> list[Path]:
    """Write the per-dataset and average few-shot plots; returns the files written."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    summ = fewshot_summary(df, with_published=with_published)
    if summ.empty:
        return []
    keys = row_keys(summ)
    styles = row_style(keys)
    offsets = dict(zip(keys, _offsets(len(keys))))
    written: list[Path] = []
    has_dagger = any(not comparable(k[1]) for k in keys)
    has_protocol = any(k[2] != DEFAULT_SELECTION for k in keys)

    drawn: set = set()  # one published curve per (published row, datasets) in each figure

    def published_curve(method, dataset=None, datasets=None):
        name = PUBLISHED_NAME.get(method)
        if not with_published or name is None:
            return [], []
        tag = (name, dataset, tuple(datasets or ()))
        if tag in drawn:
            return [], []
        drawn.add(tag)
        xs, ys = [], []
        for k in SHOTS[:1] if method == ZERO_SHOT else SHOTS:
            v = published_value(name, dataset, k) if dataset else published_average(name, k, datasets)
            if v is not None and not math.isnan(v):
                xs.append(k)
                ys.append(v)
        return xs, ys

    for dataset in sorted(set(summ["dataset"]), key=dataset_sort_key):
        fig, ax = _axes(dataset)
        drawn.clear()
        for key in keys:
            method, backbone, _selection = key
            g = select_row(summ, key)
            g = g[g["dataset"] == dataset].sort_values("shots")
            if g.empty:
                continue
            uses_test = bool(g["uses_test"].any())
            label = f"{row_label(method, backbone, key[2], uses_test)} ({_seeds_text(list(g['n']))})"
            pub_xs, pub_ys = published_curve(method, dataset=dataset) if comparable(backbone) else ([], [])
            _plot_row(
                ax,
                styles[key],
                label,
                [int(k) for k in g["shots"]],
                list(g["mean"]),
                list(g["std"]),
                pub_xs,
                pub_ys,
                method == ZERO_SHOT,
                offsets[key],
            )
        _legend(ax, with_published)
        _caption(fig, ax, has_dagger, has_protocol, average=False)
        written += _save(fig, out_dir, f"fewshot_{safe_name(dataset)}")

    fig, ax = _axes("Average over datasets")
    drawn.clear()
    for key in keys:
        method, backbone, selection = key
        g = select_row(summ, key)
        shots = sorted(set(int(k) for k in g["shots"]))
        common = set.intersection(*(set(g[g["shots"] == k]["dataset"]) for k in shots))
        common_list = sorted(common, key=dataset_sort_key)
        if not common_list:
            continue
        xs, ys, errs, ns = [], [], [], []
        for k in shots:
            gk = g[(g["shots"] == k) & (g["dataset"].isin(common))]
            xs.append(k)
            ys.append(float(np.mean(gk["mean"])))
            errs.append(float(math.sqrt(float(np.sum(np.square(gk["std"])))) / len(gk)))
            ns += list(gk["n"])
        n = len(common_list)
        uses_test = bool(g["uses_test"].any())
        label = (
            f"{row_label(method, backbone, selection, uses_test)} "
            f"({n} dataset{'s' if n != 1 else ''}, {_seeds_text(ns)})"
        )
        pub_xs, pub_ys = published_curve(method, datasets=common_list) if comparable(backbone) else ([], [])
        _plot_row(ax, styles[key], label, xs, ys, errs, pub_xs, pub_ys, method == ZERO_SHOT, offsets[key])
    _legend(ax, with_published)
    _caption(fig, ax, has_dagger, has_protocol, average=True)
    written += _save(fig, out_dir, "fewshot_average")
    return written


def _bar_colours(rows: list[tuple[str, str]]) -> dict[tuple[str, str], dict]:
    styles = row_style([(m, b, DEFAULT_SELECTION) for m, b in rows])
    return {(m, b): styles[(m, b, DEFAULT_SELECTION)] for m, b in rows}


_HATCHES = ("", "//", "..", "xx", "\\\\", "oo")


def _grouped_bars(ax, groups: list[str], series: list[tuple[str, dict, list, list]]) -> None:
    """Bars per group (x) and series (colour); ``series = [(label, style, values, errors)]``."""
    n = max(1, len(series))
    width = 0.8 / n
    x = np.arange(len(groups))
    for i, (label, style, vals, errs) in enumerate(series):
        pos = x - 0.4 + width * (i + 0.5)
        v = [np.nan if val is None else val for val in vals]
        e = [0.0 if (err is None or (isinstance(err, float) and math.isnan(err))) else err for err in errs]
        ax.bar(
            pos,
            v,
            width,
            yerr=e,
            color=style["color"],
            hatch=_HATCHES[_MARKERS.index(style["marker"]) % len(_HATCHES)],
            edgecolor="white",
            linewidth=0.5,
            capsize=2,
            error_kw={"elinewidth": 0.8},
            label=label,
        )
        for px, val, err in zip(pos, v, e):
            if not math.isnan(val):
                ax.text(
                    px,
                    val + err + 0.4,
                    f"{val:.1f}",
                    ha="center",
                    va="bottom",
                    fontsize=6.5,
                    rotation=0 if n <= 3 else 90,
                )
    ax.set_xticks(x)
    ax.set_xticklabels(groups, rotation=20, ha="right", fontsize=8)
    ax.grid(True, axis="y", alpha=0.3)


def _ylim(ax, values: list[float]) -> None:
    vals = [v for v in values if v is not None and not math.isnan(v)]
    if vals:
        lo = max(0.0, math.floor((min(vals) - 10) / 10) * 10)
        ax.set_ylim(lo, min(105.0, max(vals) + 8))


def plot_base2new(df: pd.DataFrame, out_dir: str | Path) -> list[Path]:
    """``base2new.png/pdf``: base, new and harmonic-mean accuracy per dataset (and Average), per method."""
    summ = base2new_summary(df)
    if summ.empty:
        return []
    rows = _rows(summ)
    colours = _bar_colours(rows)
    datasets = [d for d in dict.fromkeys(summ["dataset"]) if d != "Average"]
    groups = sorted(datasets, key=dataset_sort_key) + (
        ["Average"] if (summ["dataset"] == "Average").any() else []
    )
    fig, axes = plt.subplots(3, 1, figsize=(max(6.0, 1.1 * len(groups) + 3), 8.0), sharex=True)
    for ax, (col, title) in zip(
        axes, (("base", "Base classes"), ("new", "New classes"), ("hm", "Harmonic mean H"))
    ):
        series, allv = [], []
        for method, backbone in rows:
            g = summ[(summ["method"] == method) & (summ["backbone"] == backbone)].set_index("dataset")
            if col == "hm":
                vals = [g.loc[d, "hm"] if d in g.index else None for d in groups]
                errs = [None] * len(groups)
            else:
                vals = [g.loc[d, f"{col}_mean"] if d in g.index else None for d in groups]
                errs = [g.loc[d, f"{col}_std"] if d in g.index else None for d in groups]
            allv += [v for v in vals if v is not None]
            series.append((row_label(method, backbone), colours[(method, backbone)], vals, errs))
        _grouped_bars(ax, groups, series)
        ax.set_title(title, fontsize=10)
        ax.set_ylabel("accuracy (%)")
        _ylim(ax, allv)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.0, 0.95), fontsize=8, frameon=False)
    fig.suptitle("Base-to-new generalisation")
    fig.text(
        0.01,
        -0.01,
        "Bars: mean over seeds, error bar = std over seeds. H = 2BN/(B+N) from the seed-averaged B and N; "
        "Average: B and N averaged over the datasets that have both, then H."
        + (
            f"\n{NOT_COMPARABLE} backbone is not ViT-B/16."
            if any(not comparable(b) for _m, b in rows)
            else ""
        ),
        fontsize=7,
        ha="left",
        va="top",
    )
    fig.tight_layout()
    return _save(fig, Path(out_dir), "base2new")


def plot_dg(df: pd.DataFrame, out_dir: str | Path, source_shots: int = 16) -> list[Path]:
    """``domain_generalisation.png/pdf``: ImageNet (source) and its variants, one bar per method."""
    ok = _ok(df, "domain_generalisation")
    if ok.empty:
        return []
    src = _ok(df, "fewshot")
    rows = _rows(ok)
    colours = _bar_colours(rows)
    targets = list(DG_TARGETS) + sorted(set(ok["dataset"]) - set(DG_TARGETS))
    groups = [f"ImageNet\n({source_shots} shots, source)", *targets]
    series, allv = [], []
    for method, backbone in rows:
        g = ok[(ok["method"] == method) & (ok["backbone"] == backbone)]
        s = dg_source_runs(src, method, backbone, source_shots)
        stats = [seed_stats(s["accuracy"])] + [seed_stats(g[g["dataset"] == t]["accuracy"]) for t in targets]
        vals = [m if n else None for m, _s, n in stats]
        errs = [sd if n else None for _m, sd, n in stats]
        allv += [v for v in vals if v is not None]
        series.append((row_label(method, backbone), colours[(method, backbone)], vals, errs))
    fig, ax = plt.subplots(figsize=(max(6.0, 1.3 * len(groups) + 3), 4.2))
    _grouped_bars(ax, groups, series)
    ax.set_ylabel("top-1 accuracy (%)")
    ax.set_title("Domain generalisation (ImageNet → variants)")
    _ylim(ax, allv)
    lo = ax.get_ylim()[0]
    for i, _g in enumerate(groups):
        if all(vals[i] is None for _l, _st, vals, _e in series):
            ax.text(i, lo + 1, "no run", ha="center", va="bottom", fontsize=8, color="0.4")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.text(
        0.0,
        -0.28,
        "Bars: mean over seeds, error bar = std over seeds; missing bars: no finished run.",
        fontsize=7,
        ha="left",
        va="top",
        transform=ax.transAxes,
    )
    return _save(fig, Path(out_dir), "domain_generalisation")
