"""Where a sweep stands: which jobs are done, crashed or missing, and how much GPU time is left.

``python -m ramt.sweep --dry-run`` marks every job of the grid, and ``--status`` prints a table per
method with the remaining-time estimate (also ``bash scripts/reproduce_paper.sh --status``).

A job's run folders are the ones its runner script writes (``job_run_dirs`` follows the scripts'
folder scheme, including ``EXP``, ``NCTX``/``CSC``/``CTP``, ``VARIANTS``, ``PROTOCOL`` and
``COMBO.MODE joint``). A job is

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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from statistics import mean

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


def _extra_opts(argv: Sequence[str], first: int) -> dict[str, str]:
    rest = list(argv[first:])
    return {rest[i]: rest[i + 1] for i in range(0, len(rest) - 1, 2)}


def _recipe(trainer: str, dataset: str, default: str) -> str:
    """The config stem the scripts use (``recipe_config`` of scripts/common.sh)."""
    from ramt.config import SHIPPED_CONFIGS

    own = os.path.join(SHIPPED_CONFIGS, "trainers", trainer, f"{dataset}_vit_b16.yaml")
    return f"{dataset}_vit_b16" if os.path.isfile(own) else default


def _coop_config(trainer: str, dataset: str, shots: int) -> str:
    from ramt.methods import DATASET_CONFIG_TO_REGISTRY
    from ramt.policy import coop_config_name

    return _recipe(
        trainer, dataset, coop_config_name(DATASET_CONFIG_TO_REGISTRY.get(dataset, dataset), shots)
    )


def job_run_dirs(job, env: Mapping[str, str] | None = None) -> list[tuple[Path, bool]]:
    """``[(run folder, evaluation-only log?)]`` the job's runner script writes (scripts/<method>/main.sh)."""
    e = {**os.environ, **(dict(env) if env is not None else {}), **job.env_dict}
    out = Path(e.get("OUTPUT") or "./output")
    from ramt.clip.backbones import tag_from_options

    d, k, s = job.dataset, job.shots, job.seed
    # bash, script [METHOD], dataset[, shots], KEY VALUE ...
    extra = list(job.argv[job.argv.index(d, 2) + (2 if job.shots is not None else 1) :])
    tag = tag_from_options(extra)  # the backbone's folder tag (backbone_tag of scripts/common.sh)
    if job.method == "zsclip":
        return [(out / "ZeroshotCLIP" / tag / d, True)]
    opts = _extra_opts(extra, 0)
    seed = f"seed{s}"
    if job.method == "ramt":
        return [(out / d / "RAMT" / (e.get("EXP") or f"{tag}_{k}shots") / seed, False)]
    if job.method == "amt":  # scripts/amt/main.sh: R-AMT with MASK.GDR False in its own EXP folder
        return [(out / d / "RAMT" / f"{tag}_{k}shots_amt" / seed, False)]
    if job.method in ("vpt", "upt"):  # scripts/<method>/main.sh: <cfg>_<K>shots/seed<S>
        trainer = job.method.upper()
        return [
            (
                out
                / d
                / trainer
                / f"{_recipe(trainer, d, 'vit_b16').replace('vit_b16', tag, 1)}_{k}shots"
                / seed,
                False,
            )
        ]
    if job.method in ("coop", "coop_ramt", "prograd"):
        trainer = {"coop": "CoOp", "coop_ramt": "CoOpRAMT", "prograd": "ProGrad"}[job.method]
        btag = tag
        tag = f"nctx{e.get('NCTX') or 16}_csc{e.get('CSC') or 'False'}_ctp{e.get('CTP') or 'end'}"
        if job.method == "coop_ramt" and opts.get("COMBO.MODE") == "joint":
            tag += "_joint"
        cfg = _coop_config(trainer, d, int(k)).replace("vit_b16", btag, 1)
        return [(out / d / trainer / f"{cfg}_{k}shots" / tag / seed, False)]
    if job.method in ("tip_adapter", "tip_adapter_ramt"):
        trainer = "TipAdapter" if job.method == "tip_adapter" else "TipAdapterRAMT"
        protocol = e.get("PROTOCOL") or "default"
        suffix = "" if protocol == "default" else f"_{protocol}"
        variants = (e.get("VARIANTS") or "tip tipf").split()
        return [(out / d / trainer / f"{tag}_{k}shots" / f"{v}{suffix}" / seed, False) for v in variants]
    from ramt.methods import METHOD_REGISTRY

    method = METHOD_REGISTRY.get(job.method)
    if job.method in ("linear_probe", "cocoop"):  # <config stem>_<K>shots/seed<S> (their main.sh)
        trainer = method.trainers[0]
        cfg = _recipe(trainer, d, os.path.basename(method.config)).replace("vit_b16", tag, 1)
        return [(out / d / trainer / f"{cfg}_{k}shots" / seed, False)]
    if method is not None and "combination.sh" in method.script and method.config:
        # A registered two-stage combination run by scripts/combination.sh: its folder rule.
        stem = os.path.basename(method.config)
        if stem.endswith(".yaml"):
            stem = stem[: -len(".yaml")]
        elif "/" in method.config:  # a shipped config: the dataset's own recipe where there is one
            stem = _recipe(os.path.dirname(method.config), d, stem)
        trainer = method.trainers[0]
        return [(out / d / trainer / f"{stem.replace('vit_b16', tag, 1)}_{k}shots" / seed, False)]
    return []  # a runner script whose folders this module does not know: state "unknown"


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
