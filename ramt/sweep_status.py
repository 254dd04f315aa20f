"""Where a sweep stands: which jobs are done, crashed or missing, and how much GPU time is left.

``python -m ramt.sweep --dry-run`` marks every job of the grid, and ``--status`` prints a table per
method with the remaining-time estimate (also ``bash scripts/reproduce_paper.sh --status``).

A job's run folders are the ones its runner script writes: both read the method's run-folder rule
in the registry (``Method.runs_for``: ``EXP``, ``NCTX``/``CSC``/``CTP``, ``VARIANTS``, ``PROTOCOL``,
``COMBO.MODE joint`` and the backbone tag included). A job is

- ``done`` when every one of its folders holds a finished log (``ramt.utils.logformat.is_finished``);
- ``crashed`` when some folder exists but is not finished (crashed, killed, or still running);
- ``missing`` when none of its folders exists.

The estimate of a job that is not done is the mean recorded ``elapsed`` (``results.json``
``elapsed_s``, else the log's ``Elapsed:`` line) of the done jobs closest to it: same (method,
dataset, shots), else same (method, dataset), else same (method, shots), else same method. Jobs with
no finished neighbour at all are counted as "no estimate".
"""

from __future__ import annotations

import json
import os
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from statistics import mean

from ramt.methods import METHOD_REGISTRY, RunRequest
from ramt.utils.logformat import is_finished

__all__ = [
    "JobState",
    "estimate_remaining",
    "format_marked_jobs",
    "format_status",
    "job_run_dirs",
    "job_states",
    "run_elapsed",
]

STATES = ("done", "crashed", "missing")
# A job whose runner script writes folders this module cannot predict (a plugin's own script).
UNKNOWN = "unknown"
_ELAPSED_RE = re.compile(r"^Elapsed: (?:(\d+) days?, )?(\d+):(\d{2}):(\d{2}(?:\.\d+)?)\s*$")


@dataclass(frozen=True)
class JobState:
    """The state of one job, its run folders and, when done, its recorded elapsed seconds."""

    job: object  # ramt.sweep.Job
    state: str
    dirs: tuple[Path, ...]
    elapsed_s: float | None = None


def job_run_dirs(job, env: Mapping[str, str] | None = None) -> list[tuple[Path, bool]]:
    """``[(run folder, evaluation-only log?)]`` of a job, from its method's run-folder rule
    (``Method.runs_for``, the rule the runner scripts use); ``[]`` for an unregistered method."""
    method = METHOD_REGISTRY.get(job.method)
    if method is None:
        return []  # a runner whose folders the registry does not know: state "unknown"
    e = {**os.environ, **(dict(env) if env is not None else {}), **job.env_dict}
    first = 3 if job.shots is None else 4  # bash, script, dataset[, shots], KEY VALUE ...
    script = shlex.split(method.script) if method.script else []
    first += max(0, len(script) - 1)  # scripts/combination.sh KEY: one more word before the dataset
    request = RunRequest(
        e.get("OUTPUT") or "./output", job.dataset, job.shots, job.seed, tuple(job.argv[first:]), e
    )
    return [(Path(r.folder), r.test_log) for r in method.runs_for(request)]


def run_elapsed(run_dir: Path) -> float | None:
    """Recorded seconds of a finished run: ``results.json`` ``elapsed_s``, else the log's last ``Elapsed:``."""
    rj = run_dir / "results.json"
    if rj.is_file():
        try:
            value = json.loads(rj.read_text()).get("elapsed_s")
            if value is not None:
                return float(value)
        except (OSError, ValueError, TypeError, AttributeError):
            pass
    log = run_dir / "log.txt"
    if not log.is_file():
        return None
    found = None
    with open(log, errors="replace") as fh:
        for line in fh:
            m = _ELAPSED_RE.match(line.strip())
            if m:
                found = (
                    int(m.group(1) or 0) * 86400
                    + int(m.group(2)) * 3600
                    + int(m.group(3)) * 60
                    + float(m.group(4))
                )
    return found


def job_states(jobs: Sequence, env: Mapping[str, str] | None = None) -> list[JobState]:
    """The state of every job (see the module docstring), in job order."""
    states = []
    for job in jobs:
        dirs = job_run_dirs(job, env)
        if not dirs:
            states.append(JobState(job, UNKNOWN, ()))
            continue
        finished = [is_finished(str(p), test_log=t) for p, t in dirs]
        paths = tuple(p for p, _t in dirs)
        if all(finished):
            times = [run_elapsed(p) for p in paths]
            elapsed = sum(times) if all(t is not None for t in times) else None
            states.append(JobState(job, "done", paths, elapsed))
        elif any(p.is_dir() for p in paths):
            states.append(JobState(job, "crashed", paths))
        else:
            states.append(JobState(job, "missing", paths))
    return states


def format_marked_jobs(states: Sequence[JobState], header: str = "") -> str:
    """The dry-run listing with each job's state in front; a count of each state at the end."""
    lines = [f"# {len(states)} jobs" + (f" ({header})" if header else "")]
    for st in states:
        line = f"{st.state:<8} {st.job.command()}"
        if st.job.deps:
            line += "  # after " + ", ".join(st.job.deps)
        lines.append(line)
    counts = {s: sum(1 for st in states if st.state == s) for s in STATES}
    unknown = sum(1 for st in states if st.state == UNKNOWN)
    tail = f", {unknown} {UNKNOWN} (folders of their runner scripts not known)" if unknown else ""
    lines.append("# " + ", ".join(f"{counts[s]} {s}" for s in STATES) + tail)
    return "\n".join(lines)


def _estimate(job, done: Sequence[JobState]) -> tuple[float | None, str]:
    levels = (
        ("same dataset and shots", lambda j: (j.method, j.dataset, j.shots)),
        ("same dataset", lambda j: (j.method, j.dataset)),
        ("same shots", lambda j: (j.method, j.shots)),
        ("same method", lambda j: (j.method,)),
    )
    for name, key in levels:
        times = [st.elapsed_s for st in done if st.elapsed_s is not None and key(st.job) == key(job)]
        if times:
            return mean(times), name
    return None, "no finished run of this method"


#: Rough GPU seconds of one 16-shot job with ViT-B/16 on one GPU (a ~100-class dataset), used only for
#: jobs whose method has no finished run yet (shown apart from the measured estimate). Project
#: guesses from the recipes' epochs x images, not measurements; a combination takes its host's.
PRIOR_JOB_S: dict[str, float] = {
    "zsclip": 120.0,
    "ramt": 1800.0,
    "amt": 1800.0,
    "coop": 3600.0,
    "tip_adapter": 600.0,
    "coop_ramt": 3600.0,
    "tip_adapter_ramt": 600.0,
    "linear_probe": 300.0,
    "cocoop": 7200.0,
    "prograd": 3600.0,
    "vpt": 900.0,
    "upt": 1800.0,
}


def prior_job_s(job) -> float | None:
    """The rough prior of one job (:data:`PRIOR_JOB_S`, scaled with the shots); None if unknown."""
    from ramt.methods import METHOD_REGISTRY

    method = METHOD_REGISTRY.get(job.method)
    key = method.host if method is not None and method.host and job.method not in PRIOR_JOB_S else job.method
    prior = PRIOR_JOB_S.get(key)
    if prior is None or job.shots is None:
        return prior
    return prior * (0.25 + 0.75 * int(job.shots) / 16)


def estimate_remaining(states: Sequence[JobState]) -> dict[str, dict]:
    """Per method: counts of each state, the mean elapsed of its done jobs, and the remaining estimate.

    ``{"method": {"done", "crashed", "missing", "mean_done_s", "remaining_s", "no_estimate"}}`` plus a
    ``"total"`` entry; a crashed job counts as a whole job left (it resumes, so this is an upper bound).
    """
    done = [st for st in states if st.state == "done"]
    table: dict[str, dict] = {}
    for st in states:
        row = table.setdefault(
            st.job.method,
            {
                "done": 0,
                "crashed": 0,
                "missing": 0,
                UNKNOWN: 0,
                "mean_done_s": None,
                "remaining_s": 0.0,
                "no_estimate": 0,
                "prior_s": 0.0,
            },
        )
        row[st.state] += 1
        if st.state not in ("done", UNKNOWN):
            est, _how = _estimate(st.job, done)
            if est is None:
                row["no_estimate"] += 1
                row["prior_s"] += prior_job_s(st.job) or 0.0
            else:
                row["remaining_s"] += est
    for method, row in table.items():
        times = [st.elapsed_s for st in done if st.job.method == method and st.elapsed_s is not None]
        row["mean_done_s"] = mean(times) if times else None
    total = {
        key: sum(r[key] for r in table.values())
        for key in ("done", "crashed", "missing", "no_estimate", "prior_s")
    }
    total["remaining_s"] = sum(r["remaining_s"] for r in table.values())
    all_times = [st.elapsed_s for st in done if st.elapsed_s is not None]
    total["mean_done_s"] = mean(all_times) if all_times else None
    table["total"] = total
    return table


def _hours(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 60:
        return f"{seconds:.0f} s"
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.0f} min"


def _left_text(seconds: float, left: int, no_estimate: int) -> str:
    if not left:
        return "0 min"
    if no_estimate == left:
        return "—"
    return ("≥ " if no_estimate else "") + _hours(seconds)


def format_status(states: Sequence[JobState], gpus: int = 1) -> str:
    """The ``--status`` table: per method, jobs done / crashed / missing and the GPU time left."""
    table = estimate_remaining(states)
    header = [
        "method",
        "done",
        "crashed",
        "missing",
        "left",
        "mean per done job",
        "GPU time left",
        "no estimate",
        "prior for those",
    ]
    rows = []
    for method, r in table.items():
        left = r["crashed"] + r["missing"]
        rows.append(
            [
                method,
                str(r["done"]),
                str(r["crashed"]),
                str(r["missing"]),
                str(left),
                _hours(r["mean_done_s"]),
                _left_text(r["remaining_s"], left, r["no_estimate"]),
                str(r["no_estimate"]),
                _hours(r["prior_s"]) if r["no_estimate"] else "—",
            ]
        )
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    fmt = "  ".join(("{:<" if i == 0 else "{:>") + f"{w}}}" for i, w in enumerate(widths))
    lines = [fmt.format(*header), fmt.format(*["-" * w for w in widths])]
    lines += [fmt.format(*r) for r in rows]
    t = table["total"]
    left = t["crashed"] + t["missing"]
    n_done = sum(1 for st in states if st.state == "done" and st.elapsed_s is not None)
    lines.append("")
    lines.append(
        f"{left} of {len(states)} jobs left; estimated GPU time left: {_left_text(t['remaining_s'], left, t['no_estimate'])}"
        + (f" (about {_hours(t['remaining_s'] / gpus)} on {gpus} GPUs)" if gpus > 1 else "")
        + f", from the recorded elapsed time of {n_done} finished job(s)"
        + (
            f"; {t['no_estimate']} job(s) have no finished run of their method to estimate from (rough prior "
            f"for them: {_hours(t['prior_s'])}, ViT-B/16 on one GPU, ramt.sweep_status.PRIOR_JOB_S)"
            if t["no_estimate"]
            else ""
        )
        + "."
    )
    lines.append(
        "Estimate per job: mean elapsed of finished jobs of the same method and dataset and shots, else same "
        "dataset, else same shots, else same method. Crashed jobs count whole (they resume, so this is an upper bound)."
    )
    return "\n".join(lines)
