"""Sweep planning: the job list of a grid, from the method registry (pure: nothing is run or read).

One job is one (method, dataset, shots, seed) call of a runner script,
``SEEDS=<s> bash scripts/<method>/main.sh <dataset> <K> [KEY VALUE ...]``; zero-shot CLIP is one
job per dataset (``bash scripts/zsclip/main.sh <dataset>``). Order: by the methods' stage (zero-shot,
R-AMT, the hosts, then the combinations, each of which depends on the R-AMT job of the same (dataset,
K, seed) because it reuses that run's masks). Shot counts run from 16 down, so the headline 16-shot
table fills first. Running the jobs: ``ramt.sweep_run``; the CLI: ``ramt.sweep``.
"""

from __future__ import annotations

import json
import shlex
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ramt.methods import FEWSHOT_DATASETS, METHOD_REGISTRY, registered_methods

__all__ = [
    "ALL_SHOTS",
    "COMBINATIONS",
    "DEFAULT_SEEDS",
    "METHODS",
    "PAPER_SHOTS",
    "Job",
    "build_jobs",
    "format_job_list",
    "job_name",
    "sweep_methods",
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
