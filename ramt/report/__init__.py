"""Results collector, tables and plots: ``python -m ramt.report OUTPUT_DIR [--published]``.

``write_report`` walks an output tree (every method's run folders), reads each run
(``results.json``, else ``log.txt``), and writes next to each other in the report folder:

- ``results_tidy.csv``: one row per run (finished, crashed or in conflict), with its identity columns
  (``identity``, ``experiment``, ``variant``: ``ramt.report.variants``);
- ``fewshot_summary.csv``: mean/std/n per (method, backbone, dataset, shots), with the
  published value and the delta;
- ``fewshot_table.md``: the paper-style table(s), optionally with the published numbers;
- ``base2new_table.md`` and ``domain_generalisation_table.md`` when such runs exist;
- ``missing.md``: missing and crashed seeds;
- ``significance.md``: "Is the gain real?", paired comparisons (``ramt.report.significance``), and
  ``calibration.md`` with ``reliability_<dataset>.png`` (``ramt.report.calibration``);
- ``fewshot_<dataset>.png/.pdf`` and ``fewshot_average.png/.pdf`` (``ramt.report.plots``), and
  ``base2new.png/.pdf`` / ``domain_generalisation.png/.pdf`` when such runs exist;
- ``index.html``: every table above and the figures on one page that opens from disk.

With ``--published`` the few-shot tables show the whole published table at every shot count
(``ramt.report.compare``): every published cell, our rows with Δ, averages over the same datasets,
gains and a verdict per row; runs that used test data for a choice are grouped and footnoted.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from ramt.report.calibration import calibration_frame, calibration_md, plot_reliability
from ramt.report.collect import TIDY_COLUMNS, collect_runs, parse_log, read_run
from ramt.report.html import render_index
from ramt.report.significance import significance_md
from ramt.report.tables import (
    DEFAULT_SEEDS,
    base2new_blocks,
    dg_blocks,
    fewshot_blocks,
    fewshot_summary,
    missing_blocks,
    render_md,
)

__all__ = ["TIDY_COLUMNS", "build_parser", "collect_runs", "main", "parse_log", "read_run", "write_report"]


def write_report(
    output_dir: str | Path,
    out_dir: str | Path | None = None,
    published: bool = False,
    shots: Sequence[int] | None = None,
    seeds: Sequence[int] = DEFAULT_SEEDS,
    plots: bool = True,
) -> dict[str, Path]:
    """Collect every run under ``output_dir`` and write the report files; returns name -> path."""
    output_dir = Path(output_dir)
    out = Path(out_dir) if out_dir is not None else output_dir / "report"
    out.mkdir(parents=True, exist_ok=True)
    df = collect_runs(output_dir, exclude=[out])
    if shots:
        keep = set(int(k) for k in shots) | {0}
        df = df[df["shots"].isin(keep) | (df["protocol"] != "fewshot")].reset_index(drop=True)
    files: dict[str, Path] = {}

    def _write(name: str, text: str) -> None:
        path = out / name
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
        tmp.replace(path)
        files[name] = path

    tidy = out / "results_tidy.csv"
    df.to_csv(tidy, index=False)
    files["results_tidy.csv"] = tidy
    summ = out / "fewshot_summary.csv"
    fewshot_summary(df, with_published=published).to_csv(summ, index=False, float_format="%.4f")
    files["fewshot_summary.csv"] = summ
    # Each section is built once as data; its .md file and the HTML page both render that data.
    sections = [("Few-shot", "fewshot_table.md", fewshot_blocks(df, published, shots, seeds))]
    if not df.empty and (df["protocol"] == "base2new").any():
        sections.append(("Base-to-new", "base2new_table.md", base2new_blocks(df)))
    if not df.empty and (df["protocol"] == "domain_generalisation").any():
        sections.append(("Domain generalisation", "domain_generalisation_table.md", dg_blocks(df)))
    for _title, name, blocks in sections:
        _write(name, render_md(blocks))
    _write("missing.md", render_md(missing_blocks(df, seeds)))
    # The paired statistics and calibration render as Markdown (the HTML page converts them).
    cal = calibration_frame(df)
    extra = [("Is the gain real?", "significance.md", significance_md(df))]
    extra.append(("Calibration", "calibration.md", calibration_md(cal)))
    for _title, name, text in extra:
        _write(name, text)
    figures: list[tuple[str, str]] = []
    if plots and not df.empty:
        from ramt.report.plots import plot_base2new, plot_dg, plot_fewshot  # matplotlib: only with plots

        for p in plot_fewshot(df, out, with_published=published):
            files[p.name] = p
            if p.suffix == ".png":
                figures.append((p.name, f"Few-shot accuracy: {p.stem.removeprefix('fewshot_')}"))
        for p in plot_base2new(df, out) + plot_dg(df, out):
            files[p.name] = p
            if p.suffix == ".png":
                figures.append((p.name, p.stem.replace("_", " ").capitalize()))
        for p in plot_reliability(cal, out):
            files[p.name] = p
            figures.append((p.name, f"Reliability diagram: {p.stem.removeprefix('reliability_')}"))
    figures.sort(key=lambda f: (not f[0].startswith("fewshot_average"), f[0]))
    page = render_index(
        "R-AMT suite: results report",
        [(t, b) for t, _n, b in sections] + [(t, x) for t, _n, x in extra],
        figures,
    )
    _write("index.html", page)
    return files


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m ramt.report",
        description="Collect every run under OUTPUT_DIR and write the tidy CSV, Markdown tables and plots.",
    )
    p.add_argument("output_dir", help="the output tree of the runner scripts (e.g. output/)")
    p.add_argument("--published", action="store_true", help="show the published numbers and deltas")
    p.add_argument("--out", default=None, help="report folder (default: OUTPUT_DIR/report)")
    p.add_argument("--shots", type=int, nargs="+", default=None, help="only these shot counts")
    p.add_argument("--seeds", type=int, nargs="+", default=list(DEFAULT_SEEDS), help="expected seeds")
    p.add_argument("--no-plots", action="store_true", help="skip the plots")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    from ramt.methods import load_plugins

    load_plugins()  # labels of methods registered outside the package ($RAMT_PLUGINS)
    args = build_parser().parse_args(argv)
    if not Path(args.output_dir).is_dir():
        print(f"error: {args.output_dir} is not a folder", file=sys.stderr)
        return 2
    files = write_report(
        args.output_dir,
        out_dir=args.out,
        published=args.published,
        shots=args.shots,
        seeds=args.seeds,
        plots=not args.no_plots,
    )
    for name in sorted(files):
        print(f"wrote {files[name]}")
    return 0
