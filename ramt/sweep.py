"""The paper's grid: build the job list, run it (locally, one job per GPU, or on Slurm), then report.

``python -m ramt.sweep [--dry-run] [--all-shots] [--worker] [--gpus 0,1,2,3 | --slurm ...]`` (also
``bash scripts/reproduce_paper.sh``, which adds ``--worker`` and passes its arguments through).
``--worker`` runs each dataset's jobs in one process (``ramt.worker``, docs/SPEED.md).

One job is one (method, dataset, shots, seed) call of a runner script,
``SEEDS=<s> bash scripts/<method>/main.sh <dataset> <K> [KEY VALUE ...]``; zero-shot CLIP is one
job per dataset (``bash scripts/zsclip/main.sh <dataset>``). Order: zero-shot, R-AMT, CoOp and
Tip-Adapter, then the combinations, each of which depends on the R-AMT job of the same (dataset,
K, seed) because it reuses that run's masks. Shot counts run from 16 down, so the headline
16-shot table fills first.

Resuming is re-running: every runner script skips seeds whose ``log.txt`` already holds a
result and re-runs crashed ones. ``build_jobs`` is a pure function; nothing runs without a
runner (``run_local``) or an executor (``submit_slurm``).
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from ramt.clip.backbones import tag_from_options
from ramt.methods import FEWSHOT_DATASETS, load_plugins
from ramt.sweep_plan import (
    ALL_SHOTS,
    COMBINATIONS,
    DEFAULT_SEEDS,
    METHODS,
    PAPER_SHOTS,
    Job,
    build_jobs,
    format_job_list,
    job_name,
    sweep_methods,
    worker_jobs,
)
from ramt.sweep_run import ShellCommand, make_slurm_executor, run_local, submit_slurm, subprocess_runner

__all__ = [
    "ALL_SHOTS",
    "COMBINATIONS",
    "DEFAULT_SEEDS",
    "METHODS",
    "PAPER_SHOTS",
    "Job",
    "ShellCommand",
    "build_jobs",
    "format_job_list",
    "job_name",
    "main",
    "make_slurm_executor",
    "run_local",
    "submit_slurm",
    "subprocess_runner",
    "sweep_methods",
    "worker_jobs",
]


# ----------------------------------------------------------------------------- CLI
def _int_list(text: str) -> list[int]:
    return [int(x) for x in re.split(r"[,\s]+", text.strip()) if x]


def _str_list(text: str) -> list[str]:
    return [x for x in re.split(r"[,\s]+", text.strip()) if x]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m ramt.sweep",
        description="Run the paper's few-shot grid (every registered method x 11 datasets x 3 seeds at 16 shots), then report.",
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="print the job list, each job marked done/crashed/missing, and exit",
    )
    p.add_argument(
        "--status",
        action="store_true",
        help="print what is left per method and the GPU time it needs, and exit",
    )
    p.add_argument(
        "--protocol",
        choices=("default", "official"),
        default="default",
        help="Tip-Adapter selection protocol (PROTOCOL of the scripts; official uses test data, docs/METHODS.md)",
    )
    p.add_argument("--all-shots", action="store_true", help="shots 16 8 4 2 1 instead of 16 only")
    p.add_argument("--shots", type=_int_list, default=None, help="explicit shot counts, e.g. '16,4'")
    keys = ",".join(sweep_methods())
    p.add_argument("--methods", type=_str_list, default=None, help=f"subset of {keys} (default: all)")
    p.add_argument("--datasets", type=_str_list, default=list(FEWSHOT_DATASETS), help="dataset config names")
    p.add_argument("--seeds", type=_int_list, default=list(DEFAULT_SEEDS), help="seeds, e.g. '1,2,3'")
    p.add_argument(
        "--extra",
        default="",
        help="config overrides for every job, e.g. 'MODEL.BACKBONE.NAME tiny' (run folders then carry the "
        "backbone's tag: <dataset>/RAMT/tiny_16shots)",
    )
    p.add_argument("--output", default=None, help="output root (env OUTPUT of the scripts; default ./output)")
    p.add_argument("--data", default=None, help="data root (env DATA of the scripts; default ./data)")
    p.add_argument("--gpus", type=_str_list, default=None, help="local GPUs, one worker each, e.g. '0,1,2,3'")
    p.add_argument("--no-report", action="store_true", help="do not run the collector at the end")
    p.add_argument(
        "--worker",
        action="store_true",
        help="worker mode: run each dataset's jobs in one process (python -m ramt.worker) that loads "
        "CLIP, text features, decoded images and compiled code once; per GPU locally, per task on Slurm",
    )
    s = p.add_argument_group("Slurm (through submitit; pip install submitit)")
    s.add_argument("--slurm", action="store_true", help="submit the jobs to Slurm instead of running them")
    s.add_argument("--partition", default=None)
    s.add_argument("--timeout-min", type=int, default=720)
    s.add_argument("--gpus-per-node", type=int, default=1)
    s.add_argument("--cpus-per-task", type=int, default=8)
    s.add_argument("--mem-gb", type=int, default=64)
    s.add_argument("--slurm-folder", default=None, help="submitit logs (default OUTPUT/slurm/%%j)")
    s.add_argument(
        "--slurm-extra", action="append", default=[], help="additional sbatch KEY=VALUE (repeatable)"
    )
    s.add_argument("--no-wait", action="store_true", help="submit and exit (run the report later)")
    s.add_argument("--cluster", default=None, help=argparse.SUPPRESS)  # "local"/"debug" for tests
    return p


def checkout_root(cwd: str | None = None) -> Path | None:
    """The source checkout whose runner scripts the jobs call: the current folder when it holds
    ``scripts/common.sh``, else the folder above the imported ``ramt`` package (an editable install);
    None for an installed package without a checkout."""
    package_parent = Path(__file__).resolve().parent.parent
    for root in (Path(cwd or os.getcwd()), package_parent):
        if (root / "scripts" / "common.sh").is_file():
            return root
    return None


NO_CHECKOUT = (
    "ERROR: python -m ramt.sweep runs the runner scripts (scripts/<method>/main.sh) of a source checkout, "
    "and neither {cwd} nor the installed package's folder {pkg} holds scripts/common.sh. Get the "
    "checkout (the project's git repository, or the sdist unpacked), `pip install -e .` inside it and "
    "run the sweep from its root; --dry-run and --status work without it. A single run needs no "
    "checkout: ramt-train (train.py) with --config-file <shipped name, e.g. RAMT/vit_b16>."
)


def main(argv: Sequence[str] | None = None) -> int:
    load_plugins()  # methods registered outside the package ($RAMT_PLUGINS)
    args = build_parser().parse_args(argv)
    args.methods = args.methods or list(sweep_methods())
    shots = args.shots or (list(ALL_SHOTS) if args.all_shots else list(PAPER_SHOTS))
    env = {}
    if args.output:
        env["OUTPUT"] = args.output
    if args.data:
        env["DATA"] = args.data
    if args.protocol != "default":
        env["PROTOCOL"] = args.protocol
    try:
        jobs = build_jobs(args.methods, args.datasets, shots, args.seeds, shlex.split(args.extra), env)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    header = (
        f"methods {' '.join(dict.fromkeys(j.method for j in jobs))}; {len(args.datasets)} datasets; "
        f"shots {' '.join(map(str, shots))}; seeds {' '.join(map(str, args.seeds))}; "
        f"backbone folder tag {tag_from_options(shlex.split(args.extra))}"
    )
    if args.dry_run or args.status:
        from ramt.sweep_status import format_marked_jobs, format_status, job_states

        try:
            states = job_states(jobs)
        except ValueError as exc:  # a dataset or EXP name that would leave OUTPUT
            print(f"ERROR: {exc}", file=sys.stderr)
            return 2
        text = (
            format_status(states, gpus=len(args.gpus or []))
            if args.status
            else format_marked_jobs(states, header)
        )
        try:
            print(text, flush=True)
        except BrokenPipeError:  # e.g. piped into `head`
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115
        return 0
    if args.slurm and args.gpus:
        print("error: --slurm and --gpus are exclusive", file=sys.stderr)
        return 2
    root = checkout_root()
    if root is None:
        pkg = Path(__file__).resolve().parent.parent
        print(NO_CHECKOUT.format(cwd=os.getcwd(), pkg=pkg), file=sys.stderr)
        return 2
    output = args.output or "output"
    if root.resolve() != Path.cwd().resolve():
        # The scripts run in the checkout: keep OUTPUT and DATA where this command was given.
        outside = {"OUTPUT": os.path.abspath(output), "DATA": os.path.abspath(args.data or "data")}
        jobs = [
            Job(
                j.name,
                j.method,
                j.dataset,
                j.shots,
                j.seed,
                j.argv,
                tuple({**dict(j.env), **outside}.items()),
                j.deps,
            )
            for j in jobs
        ]
    print(f"[sweep] {len(jobs)} jobs ({header})")
    n_jobs = len(jobs)
    if args.worker:
        jobs = worker_jobs(jobs)
        print(f"[sweep] worker mode: {len(jobs)} worker process(es), one per dataset")
    if args.slurm:
        additional = dict(kv.split("=", 1) for kv in args.slurm_extra)
        executor = make_slurm_executor(
            args.slurm_folder or str(Path(output) / "slurm" / "%j"),
            partition=args.partition,
            timeout_min=args.timeout_min,
            gpus_per_node=args.gpus_per_node,
            cpus_per_task=args.cpus_per_task,
            mem_gb=args.mem_gb,
            cluster=args.cluster,
            additional=additional,
        )
        status = submit_slurm(jobs, executor, cwd=str(root), wait=not args.no_wait)
        if args.no_wait:
            print(
                f"[sweep] submitted {len(status)} jobs; run `python -m ramt.report {output} --published` when done"
            )
            return 0
    else:
        log_dir = Path(output) / "sweep_logs" if args.gpus and len(args.gpus) > 1 else None
        status = run_local(jobs, gpus=args.gpus, runner=subprocess_runner(log_dir=log_dir, cwd=str(root)))
    bad = {n: s for n, s in status.items() if s != "ok"}
    if bad:
        print(f"[sweep] {len(bad)} of {len(jobs)} {'workers' if args.worker else 'jobs'} did not finish:")
        for name, s in bad.items():
            print(f"  {s}: {name}")
    else:
        print(f"[sweep] all {n_jobs} jobs finished")
    if not args.no_report:
        if Path(output).is_dir():
            from ramt.report import main as report_main

            report_main([output, "--published"])
        else:
            print(f"[sweep] no output folder {output}; skipping the report")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
