"""Summarise the results of several runs (seeds), CoOp-compatible.

Each non-hidden sub-folder of DIR is one run (or DIR itself, when it holds the log) whose ``log.txt`` is searched for
``* <keyword>: X%`` after the end signal (``Finish training``, or ``=> result`` with
``--test-log``). Prints mean +- population std (or the 95% CI with ``--ci95``).

    python parse_test_res.py output/caltech101/RAMT/vit_b16_16shots
    python parse_test_res.py output/ZeroshotCLIP/vit_b16 --test-log
    python parse_test_res.py output/caltech101/CoOp --multi-exp

Additions over CoOp's script (stdout unchanged for valid inputs): a warning on stderr for
every dropped run, stray file or timestamped log; ``--log-name``; sparsity keywords;
``--json``/``--csv`` machine-readable output.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from collections import OrderedDict, defaultdict

import numpy as np

from ramt.utils.logformat import END_SIGNAL, TEST_LOG_SIGNAL, log_value, metric_regex


def warn(msg: str) -> None:
    print(f"WARNING: {msg}", file=sys.stderr)


def listdir_nohidden(path: str, sort: bool = False) -> list[str]:
    items = [f for f in os.listdir(path) if not f.startswith(".")]
    return sorted(items) if sort else items


def compute_ci95(values) -> float:
    return 1.96 * np.std(values) / np.sqrt(len(values))


def parse_function(keyword: str, directory: str, args, end_signal: str):
    print(f"Parsing files in {directory}")
    regex = metric_regex(keyword)
    outputs = []
    if os.path.isfile(os.path.join(directory, args.log_name)):
        # DIR is itself one run (e.g. a single zero-shot output folder): parse it as the only run.
        run_dirs = [directory]
    else:
        run_dirs = [os.path.join(directory, d) for d in listdir_nohidden(directory, sort=True)]
    for run_dir in run_dirs:
        if not os.path.isdir(run_dir):
            warn(f"skipping {run_dir}: not a run folder")
            continue
        fpath = os.path.join(run_dir, args.log_name)
        if not os.path.isfile(fpath):
            warn(f"dropping {run_dir}: no {args.log_name} (run not started or wrong --log-name)")
            continue
        base = os.path.basename(fpath)
        stamped = [f for f in os.listdir(os.path.dirname(fpath)) if f.startswith(base + "-")]
        if stamped:
            warn(f"{os.path.dirname(fpath)} also holds {', '.join(sorted(stamped))}; only {base} is read")
        value = log_value(fpath, regex, end_signal)
        if value is None:
            hint = "" if args.test_log else " (an evaluation-only log needs --test-log)"
            warn(
                f"dropping {fpath}: no '* {keyword}:' line after '{end_signal}' (unfinished or crashed run){hint}"
            )
            continue
        outputs.append(OrderedDict(file=fpath, **{keyword: value}))

    if not outputs:
        raise SystemExit(f"Nothing found in {directory}")

    metrics_results = defaultdict(list)
    for output in outputs:
        msg = ""
        for key, value in output.items():
            if isinstance(value, float):
                msg += f"{key}: {value:.2f}%. "
            else:
                msg += f"{key}: {value}. "
            if key != "file":
                metrics_results[key].append(value)
        print(msg)

    output_results = OrderedDict()
    print("===")
    print(f"Summary of directory: {directory}")
    for key, values in metrics_results.items():
        avg = float(np.mean(values))
        std = float(compute_ci95(values) if args.ci95 else np.std(values))
        print(f"* {key}: {avg:.2f}% +- {std:.2f}%")
        output_results[key] = avg
        output_results[f"{key}_spread"] = std
        output_results["n"] = len(values)
        output_results["runs"] = [o["file"] for o in outputs]
        output_results["values"] = values
    print("===")
    return output_results


def write_machine_readable(rows: list[dict], args) -> None:
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)
    if args.csv:
        with open(args.csv, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["directory", "keyword", "mean", "spread", "spread_kind", "n"])
            for r in rows:
                writer.writerow(
                    [
                        r["directory"],
                        r["keyword"],
                        f"{r['mean']:.4f}",
                        f"{r['spread']:.4f}",
                        r["spread_kind"],
                        r["n"],
                    ]
                )


def main(args) -> None:
    end_signal = TEST_LOG_SIGNAL if args.test_log else END_SIGNAL
    keyword = args.keyword
    rows = []
    spread_kind = "ci95" if args.ci95 else "std"

    def record(directory, res):
        rows.append(
            dict(
                directory=directory,
                keyword=keyword,
                mean=res[keyword],
                spread=res[f"{keyword}_spread"],
                spread_kind=spread_kind,
                n=res["n"],
                values=res["values"],
                runs=res["runs"],
            )
        )

    if not os.path.isdir(args.directory):
        raise SystemExit(f"No such directory: {args.directory}")
    if args.multi_exp:
        final_results = defaultdict(list)
        for sub in listdir_nohidden(args.directory, sort=True):
            directory = os.path.join(args.directory, sub)
            if not os.path.isdir(directory):
                warn(f"skipping {directory}: not an experiment folder")
                continue
            try:
                results = parse_function(keyword, directory, args, end_signal)
            except SystemExit as e:
                warn(str(e))
                continue
            record(directory, results)
            final_results[keyword].append(results[keyword])
        print("Average performance")
        for key, values in final_results.items():
            print(f"* {key}: {np.mean(values):.2f}%")
    else:
        record(args.directory, parse_function(keyword, args.directory, args, end_signal))
    write_machine_readable(rows, args)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("directory", type=str, help="path to directory")
    p.add_argument("--ci95", action="store_true", help="report the 95%% confidence interval instead of std")
    p.add_argument(
        "--test-log", action="store_true", help="parse evaluation-only logs (end signal '=> result')"
    )
    p.add_argument("--multi-exp", action="store_true", help="parse multiple experiments")
    p.add_argument(
        "--keyword",
        default="accuracy",
        type=str,
        help="which metric: accuracy, error, macro_f1, sparsity, sparsity_visual, sparsity_clip",
    )
    p.add_argument("--log-name", default="log.txt", help="log file (or sub-path) inside each run folder")
    p.add_argument("--json", default="", help="also write the summaries to this JSON file")
    p.add_argument("--csv", default="", help="also write the summaries to this CSV file")
    return p


def cli(argv=None) -> int:
    """Console entry point ``ramt-parse`` (same as ``python parse_test_res.py``)."""
    main(build_parser().parse_args(argv))
    return 0


if __name__ == "__main__":
    cli()
