"""Worker mode: run several sweep jobs of one dataset and backbone in one Python process.

    python -m ramt.worker --jobs jobs.json        # what ``python -m ramt.sweep --worker`` starts

A job is a runner-script call (``SEEDS=1 bash scripts/ramt/main.sh caltech101 16``). The worker
runs the script in *plan mode* (``RAMT_PLAN_FILE``: ``scripts/common.sh`` records each
``train.py`` call instead of starting it, after its usual finished-run check), then runs the
recorded calls here with ``ramt.train.cli``. What a fresh process would pay per job is paid
once: importing torch and the package, loading CLIP (each job gets a deep copy of the loaded
model), zero-shot text features, the decoded-image caches and, with ``SPEED.COMPILE``, the
compilation (PyTorch's on-disk compile caches under ``<CACHE_DIR>/torch_compile``, see
docs/SPEED.md).

Each job keeps everything a standalone run has: its folder, ``log.txt``, seed (every RNG is
re-seeded by ``train.py`` from the job's seed), ``results.json`` and masks. Nothing shared draws
random numbers, so the results are those of separate processes (``tests/test_worker.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from typing import Any

PLAN_END = "--ramt-plan-end--"


def plan_job(argv: Sequence[str], env: dict[str, str], cwd: str | None = None) -> list[tuple[str, list[str]]]:
    """(folder, ``train.py`` arguments) of each call a runner-script call would make (finished runs
    are skipped by the script, as without the worker)."""
    fd, plan = tempfile.mkstemp(prefix="ramt-plan-", suffix=".bin")
    os.close(fd)
    try:
        proc = subprocess.run(
            list(argv),
            env={**os.environ, **env, "RAMT_PLAN_FILE": plan},
            cwd=cwd,
            capture_output=True,
            text=True,
        )
        sys.stdout.write(proc.stdout)
        if proc.returncode != 0:
            sys.stderr.write(proc.stderr)
            raise RuntimeError(f"planning `{' '.join(argv)}` failed with exit code {proc.returncode}")
        with open(plan, "rb") as f:
            fields = f.read().decode().split("\0")
    finally:
        os.remove(plan)
    calls, current = [], []
    for item in fields[:-1]:  # the data ends with a NUL
        if item == PLAN_END:
            calls.append((current[0], current[1:]))
            current = []
        else:
            current.append(item)
    return calls


def reset_process_state() -> None:
    """Undo what one job may leave behind that a fresh process would not have."""
    import torch

    torch.use_deterministic_algorithms(False)
    torch.backends.cudnn.benchmark = False
    if hasattr(torch, "_dynamo"):
        # Compiled code is guarded on the previous job's modules; the recompile for the new
        # ones is served by the in-memory and on-disk FX-graph / AOTAutograd caches.
        torch._dynamo.reset()
    for module in list(sys.modules.values()):  # warnings print again, as in a new process
        registry = getattr(module, "__warningregistry__", None)
        if isinstance(registry, dict):
            registry.clear()


def run_train_in_process(argv: Sequence[str]) -> int:
    from ramt.train import cli

    try:
        return cli(list(argv))
    finally:
        reset_process_state()


def run_jobs(
    jobs: Sequence[dict[str, Any]],
    cwd: str | None = None,
    echo: Callable[[str], Any] = print,
    runner: Callable[[Sequence[str]], int] = run_train_in_process,
) -> dict[str, str]:
    """Run jobs (dicts with ``name``, ``argv``, ``env``, ``deps``) in order; a job whose dependency
    failed is skipped. Returns ``{name: "ok" | "failed" | "skipped"}``."""
    from ramt.clip.shared import enable_sharing

    enable_sharing(True)
    status: dict[str, str] = {}
    old_cwd = os.getcwd()
    try:
        for job in jobs:
            name = job["name"]
            if any(status.get(d) in ("failed", "skipped") for d in job.get("deps", ())):
                status[name] = "skipped"
                echo(f"[worker] skip {name}: dependency failed")
                continue
            t0 = time.time()
            try:
                calls = plan_job(job["argv"], dict(job.get("env", {})), cwd=cwd)
                rc = 0
                for folder, call in calls:
                    os.chdir(folder)  # the script's relative paths are relative to its root
                    rc = runner(call)
                    os.chdir(old_cwd)
                    if rc != 0:
                        break
            except Exception as exc:  # a failed job is reported, the others still run
                echo(f"[worker] {name}: {exc!r}")
                rc = 1
            status[name] = "ok" if rc == 0 else "failed"
            echo(f"[worker] {'done' if rc == 0 else f'FAILED (exit {rc})'} {name} ({time.time() - t0:.1f} s)")
    finally:
        os.chdir(old_cwd)
        enable_sharing(False)
    return status


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m ramt.worker", description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--jobs", required=True, help="the jobs: a JSON list of {name, argv, env, deps}, or a file holding it"
    )
    args = p.parse_args(argv)
    if args.jobs.lstrip().startswith("["):
        jobs = json.loads(args.jobs)
    else:
        with open(args.jobs) as f:
            jobs = json.load(f)
    status = run_jobs(jobs)
    bad = [n for n, s in status.items() if s != "ok"]
    print(f"[worker] {len(jobs) - len(bad)} of {len(jobs)} jobs finished" + (f"; not: {bad}" if bad else ""))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
