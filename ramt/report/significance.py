"""The report's "Is the gain real?" section: paired comparisons of each combination with its host.

Pairs come from the method registry: every combination against its host (a Method's ``host``
field; CoOp+R-AMT vs CoOp and Tip-Adapter(-F)+R-AMT vs Tip-Adapter(-F) for the shipped ones),
and R-AMT against zero-shot CLIP and against AMT. Each row is ``ramt.compare`` on the runs'
``predictions.npz``: Δ, CI and verdict per dataset and shot count, and across datasets. Runs
without predictions (older runs) are listed as lacking the analysis.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Optional

import pandas as pd

from ramt.compare import DEFAULT_LEVEL, CompareError, Comparison, Run, compare_runs
from ramt.methods import METHOD_REGISTRY, Method, registered_methods
from ramt.record import RecordError, read_predictions, read_results

__all__ = ["comparison_pairs", "host_of", "load_report_runs", "significance_md"]

#: Hosts of the shipped combinations, for a registry whose Method has no ``host`` field yet.
_KNOWN_HOSTS = {"coop_ramt": "coop", "tip_adapter_ramt": "tip_adapter"}
#: Method-label pairs always compared: R-AMT against zero-shot CLIP and against AMT.
_RAMT_PAIRS = (("R-AMT", "ZeroShotCLIP"), ("R-AMT", "AMT"))
REPORT_N_BOOT = 2000


def host_of(method: Method) -> Optional[str]:
    """The registry key of a combination's host method (None for a method that is not a combination)."""
    return getattr(method, "host", None) or _KNOWN_HOSTS.get(method.key)


def comparison_pairs() -> list[tuple[str, str]]:
    """(label A, label B) pairs: each combination label against its host's label, then R-AMT's pairs."""
    pairs: list[tuple[str, str]] = []
    for m in registered_methods():
        host = METHOD_REGISTRY.get(host_of(m) or "")
        if host is None:
            continue
        for label in m.labels:
            base = label.rsplit("+", 1)[0]
            if "+" in label and base in host.labels:
                pairs.append((label, base))
    return pairs + [p for p in _RAMT_PAIRS if p not in pairs]


def load_report_runs(df: pd.DataFrame) -> tuple[dict[str, list[Run]], list[str]]:
    """Finished few-shot and zero-shot runs with predictions, by method label; and the paths lacking them."""
    runs: dict[str, list[Run]] = {}
    lacking: list[str] = []
    if df.empty:
        return runs, lacking
    ok = df[(df["status"] == "ok") & (df["protocol"] == "fewshot") & (df["source"] == "results.json")]
    for row in ok.itertuples():
        try:
            rec = read_results(row.path)
            path = rec.predictions_path
            if not path or not Path(path).is_file():
                lacking.append(row.path)
                continue
            runs.setdefault(row.method, []).append(Run(rec, read_predictions(path)))
        except (OSError, RecordError):
            lacking.append(row.path)
    lacking += list(df[(df["status"] == "ok") & (df["source"] != "results.json")]["path"])
    return runs, lacking


def _fmt_row(a: str, b: str, c: Comparison) -> str:
    k, n, p = c.sign
    ps = ", ".join(f"{r.p_mcnemar:.2g}" for r in c.rows) if c.dataset != "all" else ""
    seeds = ", ".join(f"{r.delta:+.2f}" for r in c.rows) if c.dataset != "all" else ""
    health = "; ".join(f"{side} seed {', '.join(map(str, s))}" for side, s in c.outliers.items())
    if c.without_outliers is not None:
        health += f" (without: {c.without_outliers.verdict})"
    where = "all datasets" if c.dataset == "all" else c.dataset
    return (
        f"| {a} vs {b} | {where} | {c.shots if c.shots is not None else ''} | {c.delta:+.2f} | "
        f"[{c.ci[0]:+.2f}, {c.ci[1]:+.2f}] | {seeds} | {ps} | {k}/{n} (p={p:.2g}) | **{c.verdict}** | {health} |"
    )


def _by_backbone(runs: Iterable[Run]) -> dict[str, list[Run]]:
    out: dict[str, list[Run]] = {}
    for r in runs:
        out.setdefault(r.record.backbone, []).append(r)
    return out


def significance_md(df: pd.DataFrame, level: float = DEFAULT_LEVEL, n_boot: int = REPORT_N_BOOT) -> str:
    """The section's Markdown (always written, saying what is missing when nothing can be paired)."""
    runs, lacking = load_report_runs(df)
    pct = f"{100 * (1 - level):g}%"
    lines = [
        "# Is the gain real?",
        "",
        f"Paired comparisons on the same test images (`python -m ramt.compare`; docs/STATISTICS.md): Δ in "
        f"points (A − B, mean over seeds), {pct} paired bootstrap CI over test images (resampled within each "
        f"seed, {n_boot} resamples), Δ and exact McNemar p per seed, sign test across seeds, and the verdict at "
        f"level {level:g} (better / worse when the CI excludes 0). Seed health flags a seed more than 3 robust "
        "SDs (1.4826 × MAD) from the others of its group.",
        "",
    ]
    header = [
        "| Comparison | Dataset | K | Δ (pp) | CI | Δ per seed | McNemar p per seed | Sign test | Verdict | Seed health |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    rows: list[str] = []
    problems: list[str] = []
    for a, b in comparison_pairs():
        if a not in runs or b not in runs:
            continue
        a_bb, b_bb = _by_backbone(runs[a]), _by_backbone(runs[b])
        for backbone in sorted(set(a_bb) & set(b_bb)):
            try:
                comps = []
                shots = sorted({r.record.shots or 0 for r in a_bb[backbone]})
                for k in shots:
                    a_k = [r for r in a_bb[backbone] if (r.record.shots or 0) == k]
                    comps += compare_runs(a_k, b_bb[backbone], level, n_boot, seed=0, across=True)
            except CompareError as e:
                problems.append(f"- {a} vs {b} ({backbone}): {e}")
                continue
            order = sorted(comps, key=lambda c: (c.shots or 0, c.dataset == "all", c.dataset))
            rows += [_fmt_row(a, b, c) for c in order]
    if rows:
        lines += header + rows
    else:
        lines.append("No pair of methods with per-image predictions on the same datasets yet.")
    if problems:
        lines += ["", "Pairs that could not be compared:", ""] + problems
    if lacking:
        shown = ", ".join(f"`{p}`" for p in sorted(lacking)[:10])
        more = f" and {len(lacking) - 10} more" if len(lacking) > 10 else ""
        lines += [
            "",
            f"{len(lacking)} finished run(s) have no `predictions.npz` (older runs or log-only folders) and lack "
            f"the paired analyses, calibration and per-class results: {shown}{more}.",
        ]
    return "\n".join(lines) + "\n"
