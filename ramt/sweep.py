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
import json
import os
import re
import shlex
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ramt.clip.backbones import tag_from_options
from ramt.methods import FEWSHOT_DATASETS, METHOD_REGISTRY, load_plugins, registered_methods

__all__ = [
    "ALL_SHOTS",
    "COMBINATIONS",
    "METHODS",
    "Job",
    "ShellCommand",
    "build_jobs",
    "format_job_list",
    "main",
    "make_slurm_executor",
    "run_local",
    "submit_slurm",
    "worker_jobs",
]


def sweep_methods() -> tuple[str, ...]:
    """Every registered method key, in run order (by stage; a combination after the run it reuses)."""
    return tuple(m.key for m in sorted(registered_methods(), key=lambda m: m.stage))


# The shipped methods (from the method registry, ``ramt.methods``), in run order, and the
# combinations among them (the methods that reuse another method's finished run).
METHODS: tuple[str, ...] = sweep_methods()
COMBINATIONS: tuple[str, ...] = tuple(m.key for m in registered_methods() if m.reuses)
ALL_SHOTS: tuple[int, ...] = (16, 8, 4, 2, 1)
PAPER_SHOTS: tuple[int, ...] = (16,)
DEFAULT_SEEDS: tuple[int, ...] = (1, 2, 3)


@dataclass(frozen=True)
class Job:
    """One runner-script call. ``deps`` are names of jobs that must succeed first."""

    name: str
    method: str
    dataset: str
    shots: int | None
    seed: int | None
    argv: tuple[str, ...]
    env: tuple[tuple[str, str], ...] = ()
    deps: tuple[str, ...] = field(default=())

    @property
    def env_dict(self) -> dict[str, str]:
        return dict(self.env)

    def command(self) -> str:
        """The shell command line, e.g. ``SEEDS=1 bash scripts/ramt/main.sh caltech101 16``."""
        prefix = " ".join(f"{k}={shlex.quote(v)}" for k, v in self.env)
        cmd = shlex.join(self.argv)
        return f"{prefix} {cmd}" if prefix else cmd


def job_name(method: str, dataset: str, shots: int | None = None, seed: int | None = None) -> str:
    if shots is None:
        return f"{method}/{dataset}"
    return f"{method}/{dataset}/{shots}shots/seed{seed}"


def build_jobs(
    methods: Sequence[str] = METHODS,
    datasets: Sequence[str] = FEWSHOT_DATASETS,
    shots: Sequence[int] = PAPER_SHOTS,
    seeds: Sequence[int] = DEFAULT_SEEDS,
    extra: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    scripts_dir: str = "scripts",
) -> list[Job]:
    """The ordered job list of a grid (pure: nothing is run or read).

    ``extra`` are trailing ``KEY VALUE`` config overrides given to every job; ``env`` holds extra
    environment variables for every job (e.g. ``OUTPUT``, ``DATA``). A combination depends on the
    R-AMT job of the same (dataset, K, seed) when R-AMT is part of the grid (otherwise its script
    trains the R-AMT run it needs itself).
    """
    unknown = [m for m in methods if m not in METHOD_REGISTRY]
    if unknown:
        raise ValueError(f"unknown method(s) {unknown}; choose from {list(sweep_methods())}")
    if len(extra) % 2:
        raise ValueError(f"extra config overrides must be KEY VALUE pairs, got {list(extra)}")
    base_env = tuple((k, str(v)) for k, v in (env or {}).items())
    run_order = sweep_methods()
    ordered = sorted(dict.fromkeys(methods), key=run_order.index)
    extra = tuple(str(x) for x in extra)
    jobs: list[Job] = []
    for method in ordered:
        entry = METHOD_REGISTRY[method]
        script = tuple(shlex.split(entry.script)) if entry.script else (f"{scripts_dir}/{method}/main.sh",)
        for dataset in datasets:
            if not entry.per_shot:
                jobs.append(
                    Job(
                        job_name(method, dataset),
                        method,
                        dataset,
                        None,
                        None,
                        ("bash", *script, dataset, *extra),
                        base_env,
                    )
                )
                continue
            for k in shots:
                for s in seeds:
                    deps: tuple[str, ...] = ()
                    if entry.reuses and entry.reuses in ordered:
                        deps = (job_name(entry.reuses, dataset, k, s),)
                    jobs.append(
                        Job(
                            job_name(method, dataset, k, s),
                            method,
                            dataset,
                            int(k),
                            int(s),
                            ("bash", *script, dataset, str(k), *extra),
                            (("SEEDS", str(s)), *base_env),
                            deps,
                        )
                    )
    return jobs


def worker_jobs(jobs: Sequence[Job], python: str = sys.executable) -> list[Job]:
    """Worker mode: one job per dataset that runs all of that dataset's jobs, in order, in one
    process (``python -m ramt.worker``: CLIP, text features, decoded images and compiled code are
    loaded once). A combination's dependency on its R-AMT job stays inside the same worker."""
    groups: dict[str, list[Job]] = {}
    for job in jobs:
        groups.setdefault(job.dataset, []).append(job)
    out = []
    for dataset, members in groups.items():
        spec = [
            {"name": j.name, "argv": list(j.argv), "env": j.env_dict, "deps": list(j.deps)} for j in members
        ]
        argv = (python, "-m", "ramt.worker", "--jobs", json.dumps(spec, separators=(",", ":")))
        out.append(Job(f"worker/{dataset}", "worker", dataset, None, None, argv))
    return out


def format_job_list(jobs: Sequence[Job], header: str = "") -> str:
    """The dry-run listing: a ``# N jobs`` header, then one command per line (deps as a comment)."""
    lines = [f"# {len(jobs)} jobs" + (f" ({header})" if header else "")]
    for job in jobs:
        line = job.command()
        if job.deps:
            line += "  # after " + ", ".join(job.deps)
        lines.append(line)
    return "\n".join(lines)


# ----------------------------------------------------------------------------- local execution
def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def subprocess_runner(
    log_dir: Path | None = None, cwd: str | None = None
) -> Callable[[Job, str | None], int]:
    """A runner for ``run_local``: runs the job's command, with CUDA_VISIBLE_DEVICES set to its GPU."""

    def run(job: Job, gpu: str | None) -> int:
        env = {**os.environ, **job.env_dict}
        if gpu is not None:
            env["CUDA_VISIBLE_DEVICES"] = gpu
        if log_dir is None:
            return subprocess.run(list(job.argv), env=env, cwd=cwd).returncode
        log_dir.mkdir(parents=True, exist_ok=True)
        with open(log_dir / f"{_safe(job.name)}.log", "a") as fh:
            return subprocess.run(
                list(job.argv), env=env, cwd=cwd, stdout=fh, stderr=subprocess.STDOUT
            ).returncode

    return run


def run_local(
    jobs: Sequence[Job],
    gpus: Sequence[str] | None = None,
    runner: Callable[[Job, str | None], int] | None = None,
    echo: Callable[[str], Any] = print,
) -> dict[str, str]:
    """Run the jobs with one worker per GPU (one worker, no GPU pinning, when ``gpus`` is empty).

    A job starts once all its dependencies (those in ``jobs``) succeeded; if one failed, the job is
    ``"skipped"``. Returns ``{job name: "ok" | "failed" | "skipped"}``; never raises on job failure.
    """
    runner = runner or subprocess_runner()
    slots: list[str | None] = list(gpus) if gpus else [None]
    names = {j.name for j in jobs}
    pending = list(jobs)
    status: dict[str, str] = {}
    cond = threading.Condition()

    def next_job() -> Job | None:
        with cond:
            while True:
                changed = True
                while changed:
                    changed = False
                    for j in list(pending):
                        if any(status.get(d) in ("failed", "skipped") for d in j.deps):
                            pending.remove(j)
                            status[j.name] = "skipped"
                            echo(f"[sweep] skip {j.name}: dependency failed")
                            changed = True
                for j in pending:
                    if all(d not in names or status.get(d) == "ok" for d in j.deps):
                        pending.remove(j)
                        status[j.name] = "running"
                        return j
                if not pending:
                    cond.notify_all()
                    return None
                cond.wait()

    def worker(gpu: str | None) -> None:
        while True:
            job = next_job()
            if job is None:
                return
            where = f" on GPU {gpu}" if gpu is not None else ""
            echo(f"[sweep] start {job.name}{where}: {job.command()}")
            try:
                rc = runner(job, gpu)
            except Exception as exc:  # a runner error is a job failure, not a sweep crash
                echo(f"[sweep] {job.name}: {exc!r}")
                rc = 1
            with cond:
                status[job.name] = "ok" if rc == 0 else "failed"
                cond.notify_all()
            echo(f"[sweep] {'done' if rc == 0 else f'FAILED (exit {rc})'} {job.name}")

    threads = [threading.Thread(target=worker, args=(g,), daemon=True) for g in slots]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return status


# ----------------------------------------------------------------------------- Slurm (submitit)
class ShellCommand:
    """A picklable callable that runs one job's command (what submitit sends to the cluster)."""

    def __init__(self, argv: Sequence[str], env: Mapping[str, str], cwd: str | None = None):
        self.argv = list(argv)
        self.env = dict(env)
        self.cwd = cwd

    def __call__(self) -> int:
        proc = subprocess.run(self.argv, env={**os.environ, **self.env}, cwd=self.cwd)
        if proc.returncode != 0:
            raise RuntimeError(f"{shlex.join(self.argv)} exited with {proc.returncode}")
        return 0

    def __repr__(self) -> str:
        return f"ShellCommand({shlex.join(self.argv)!r})"


def _import_submitit():
    try:
        import submitit
    except ImportError as exc:
        raise SystemExit(
            "--slurm needs submitit, which is not installed: `pip install submitit` "
            "(or `pip install -e .[slurm]`)."
        ) from exc
    return submitit


def make_slurm_executor(
    folder: str | Path,
    partition: str | None = None,
    timeout_min: int = 720,
    gpus_per_node: int = 1,
    cpus_per_task: int = 8,
    mem_gb: int | None = 64,
    cluster: str | None = None,
    additional: Mapping[str, Any] | None = None,
):
    """A submitit ``AutoExecutor`` (cluster ``None`` = auto-detect Slurm; ``"local"`` for tests)."""
    submitit = _import_submitit()
    executor = submitit.AutoExecutor(folder=str(folder), cluster=cluster)
    params: dict[str, Any] = {
        "timeout_min": int(timeout_min),
        "gpus_per_node": int(gpus_per_node),
        "cpus_per_task": int(cpus_per_task),
        "nodes": 1,
        "tasks_per_node": 1,
    }
    if mem_gb:
        params["mem_gb"] = int(mem_gb)
    if partition:
        params["slurm_partition"] = partition
    if additional:
        params["slurm_additional_parameters"] = dict(additional)
    executor.update_parameters(**params)
    executor._ramt_additional = dict(additional or {})
    return executor


def submit_slurm(
    jobs: Sequence[Job],
    executor: Any,
    cwd: str | None = None,
    wait: bool = True,
    echo: Callable[[str], Any] = print,
    make_call: Callable[[Job], Callable[[], Any]] | None = None,
) -> dict[str, str]:
    """Submit the jobs through a submitit executor.

    On Slurm (``executor.cluster == "slurm"``) every job is submitted at once and a job with
    dependencies gets ``--dependency=afterok:<ids>``. Other executors (local, debug) cannot express
    dependencies, so the jobs go in waves: a wave holds the jobs whose dependencies all finished.
    Returns ``{job name: status}`` ("ok" / "failed" / "skipped"; "submitted" with ``wait=False``).
    """
    make_call = make_call or (lambda j: ShellCommand(j.argv, j.env_dict, cwd))
    extra = dict(getattr(executor, "_ramt_additional", {}) or {})
    names = {j.name for j in jobs}
    status: dict[str, str] = {}

    def _submit(job: Job, dependency: str | None):
        add = dict(extra)
        if dependency:
            add["dependency"] = dependency
        executor.update_parameters(name=job.name, slurm_additional_parameters=add)
        handle = executor.submit(make_call(job))
        echo(f"[sweep] submitted {job.name} as {handle.job_id}" + (f" ({dependency})" if dependency else ""))
        return handle

    def _wait(handles: dict[str, Any]) -> None:
        for name, h in handles.items():
            try:
                h.result()
                status[name] = "ok"
            except Exception as exc:  # failed job: reported at the end
                status[name] = "failed"
                echo(f"[sweep] FAILED {name}: {str(exc).splitlines()[0] if str(exc) else exc!r}")

    if getattr(executor, "cluster", "slurm") == "slurm":
        handles: dict[str, Any] = {}
        for job in jobs:
            ids = [handles[d].job_id for d in job.deps if d in handles]
            handles[job.name] = _submit(job, "afterok:" + ":".join(ids) if ids else None)
        if not wait:
            return {name: "submitted" for name in handles}
        _wait(handles)
        return status

    remaining = list(jobs)
    while remaining:
        wave = [j for j in remaining if all(d not in names or d in status for d in j.deps)]
        remaining = [j for j in remaining if j not in wave]
        handles = {}
        for job in wave:
            if any(status.get(d) in ("failed", "skipped") for d in job.deps):
                status[job.name] = "skipped"
                echo(f"[sweep] skip {job.name}: dependency failed")
                continue
            handles[job.name] = _submit(job, None)
        _wait(handles)
    return status


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

        states = job_states(jobs)
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
    output = args.output or "output"
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
        status = submit_slurm(jobs, executor, cwd=os.getcwd(), wait=not args.no_wait)
        if args.no_wait:
            print(
                f"[sweep] submitted {len(status)} jobs; run `python -m ramt.report {output} --published` when done"
            )
            return 0
    else:
        log_dir = Path(output) / "sweep_logs" if args.gpus and len(args.gpus) > 1 else None
        status = run_local(jobs, gpus=args.gpus, runner=subprocess_runner(log_dir=log_dir))
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
