#!/usr/bin/env python
"""Run every registered method on Digits with the tiny CLIP (4 shots, 3 seeds) and write one accuracy table.

    python benchmarks/bench_digits_table.py                      # all methods; writes docs/BASELINES.md
    python benchmarks/bench_digits_table.py --methods vpt,upt --no-write

The runs go through ``python -m ramt.sweep --worker`` (the same runner scripts and folders as the
paper grid) into ``--work`` (default ``benchmarks/results/digits-table``); finished runs are
skipped on a re-run. The table (mean and standard deviation of the test accuracy over the seeds,
per method label, registry order) replaces the block between the ``digits-table`` markers of
docs/BASELINES.md; nothing else in the file changes. Digits + the random-weight ``tiny`` backbone
is a CPU pipeline check: the numbers say that every method runs end to end the same way, not how
the methods compare on real data.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "BASELINES.md"
START, END = "<!-- digits-table:start -->", "<!-- digits-table:end -->"


def run_grid(work: Path, methods: list[str], seeds: str, shots: int, epochs: int) -> None:
    """The Digits/tiny grid through the sweep (worker mode, resumable)."""
    extra = "MODEL.BACKBONE.NAME tiny DATALOADER.NUM_WORKERS 0" + (
        f" OPTIM.MAX_EPOCH {epochs}" if epochs else ""
    )
    cmd = [
        sys.executable, "-m", "ramt.sweep", "--worker", "--no-report",
        "--datasets", "digits", "--shots", str(shots), "--seeds", seeds, "--extra", extra,
        "--output", str(work / "output"), "--data", str(work / "data"),
    ]  # fmt: skip
    if methods:
        cmd += ["--methods", ",".join(methods)]
    subprocess.run(cmd, cwd=ROOT, check=True)


def collect(output: Path) -> dict[str, list[tuple[int, float, float, int]]]:
    """``label -> [(seed, accuracy, elapsed_s, zero mask entries or -1)]`` from every Digits results.json."""
    rows: dict[str, list[tuple[int, float, float, int]]] = defaultdict(list)
    for path in sorted(output.rglob("results.json")):
        res = json.loads(path.read_text())
        if res.get("dataset_config", "digits") != "digits":
            continue
        acc, elapsed = float(res["metrics"]["accuracy"]), float(res.get("elapsed_s") or 0)
        zeros = int((res.get("sparsity") or {}).get("zeros", -1))  # the masks trained by this run
        rows[res["method"]].append((int(res["seed"]), acc, elapsed, zeros))  # AMT: its MASK.GDR False label
    return rows


def format_table(rows: dict[str, list[tuple[int, float, float, int]]], shots: int) -> str:
    from ramt.methods import method_sort_key

    lines = [
        f"| Method | Digits/tiny, {shots} shots: accuracy (%) | seeds | mean run time (s, CPU) | zero mask entries |",
        "|---|---|---|---|---|",
    ]
    for label in sorted(rows, key=method_sort_key):
        runs = sorted(rows[label])
        accs = [r[1] for r in runs]
        std = statistics.stdev(accs) if len(accs) > 1 else 0.0
        mean_t = statistics.mean(r[2] for r in runs)
        zeros = ", ".join(str(r[3]) for r in runs) if all(r[3] >= 0 for r in runs) else ""
        label_md = label.replace("|", "\\|")
        lines.append(
            f"| {label_md} | {statistics.mean(accs):.2f} ± {std:.2f} | {len(runs)} | {mean_t:.0f} | {zeros} |"
        )
    return "\n".join(lines)


def write_doc(table: str, note: str) -> None:
    """Replace the marked block of docs/BASELINES.md (appended with its heading if absent)."""
    text = DOC.read_text()
    block = f"{START}\n{note}\n\n{table}\n{END}"
    if START in text and END in text:
        head, rest = text.split(START, 1)
        _old, tail = rest.split(END, 1)
        text = head + block + tail
    else:
        text = text.rstrip("\n") + "\n\n## Digits/tiny accuracy of every method\n" + block + "\n"
    tmp = DOC.with_suffix(".md.tmp")
    tmp.write_text(text)
    os.replace(tmp, DOC)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--work", default=str(ROOT / "benchmarks" / "results" / "digits-table"))
    p.add_argument(
        "--methods", default="", help="comma-separated method keys (default: every registered one)"
    )
    p.add_argument("--seeds", default="1,2,3")
    p.add_argument("--shots", type=int, default=4)
    p.add_argument(
        "--epochs",
        type=int,
        default=0,
        help="OPTIM.MAX_EPOCH for every trained method (default: each recipe's)",
    )
    p.add_argument("--no-run", action="store_true", help="only collect the runs already in --work")
    p.add_argument("--no-write", action="store_true", help="print the table, leave docs/BASELINES.md alone")
    args = p.parse_args(argv)
    work = Path(args.work)
    methods = [m for m in args.methods.split(",") if m]
    if not args.no_run:
        run_grid(work, methods, args.seeds, args.shots, args.epochs)
    rows = collect(work / "output")
    if not rows:
        print(
            f"ERROR: no finished Digits run under {work / 'output'}; run without --no-run first.",
            file=sys.stderr,
        )
        return 2
    table = format_table(rows, args.shots)
    print(table)
    if not args.no_write:
        note = (
            f"Written by `python benchmarks/bench_digits_table.py --epochs {args.epochs}` (seeds {args.seeds}, CPU; "
            + (
                f"OPTIM.MAX_EPOCH {args.epochs} for every trained method, "
                if args.epochs
                else "each recipe's epochs, "
            )
            + "Tip-Adapter-F's own epochs). A pipeline check on "
            "synthetic digits with the random-weight `tiny` CLIP, not a comparison of the methods."
        )
        mask_zeros = [r[3] for runs in rows.values() for r in runs if r[3] >= 0]
        if mask_zeros and not any(mask_zeros):
            note += (
                " The R-AMT masks have no zero entry after this schedule, so every host+R-AMT row equals its host "
                "(the folded encoder is plain CLIP); the runs check the pipeline, not the masks' effect."
            )
        write_doc(table, note)
        print(f"Wrote the table into {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
