"""Sweep running: the jobs of ``ramt.sweep_plan`` locally (one worker per GPU) or on Slurm (submitit).

``run_local`` starts a job once its dependencies succeeded and skips it when one failed;
``submit_slurm`` chains them with ``--dependency=afterok`` on Slurm, in waves elsewhere. Nothing
here decides what to run.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ramt.sweep_plan import Job

__all__ = [
    "ShellCommand",
    "make_slurm_executor",
    "run_local",
    "submit_slurm",
    "subprocess_runner",
]


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
