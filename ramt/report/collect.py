"""Find every run under an output tree and read its result.

A run folder is any folder holding ``results.json`` or ``log.txt``. ``results.json`` (written
atomically by the engine right after the final evaluation) is preferred; without it the
``log.txt`` is parsed the CoOp way, so logs of plain CoOp-style runs count too:

- the config comes from the dump after the ``** Config **`` banner (``print(cfg)`` of a yacs node);
- the result is the last ``* accuracy: X%`` (etc.) after ``Finish training``; a log without that
  line (evaluation only: zero-shot, base-to-new "new", domain shift) uses the lines after the
  last ``Evaluate on the *test* set``, else after ``=> result`` when the log shows no training;
- ``=> mask sparsity`` lines and ``Elapsed: H:MM:SS`` are read the same way.

A folder whose log holds no result is a crashed (or unfinished) run: it gets ``status ==
"crashed"`` and is listed by the report, never averaged. Nothing here relies on the folder
layout except, as a last resort, a ``seed<N>`` folder name when the config gives no seed.
"""

from __future__ import annotations

import ast
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from ramt.methods import (
    DG_TARGETS,
    cfg_get,
    dataset_config_name,
    method_for_trainer,
    method_label,
    paper_dataset_name,
)
from ramt.published import ZERO_SHOT, stored_shots
from ramt.record import RecordError, read_results
from ramt.report.variants import IDENTITY_COLUMNS, assign_variants
from ramt.selection import selection_protocol
from ramt.utils.logformat import END_SIGNAL, RESULT_METRIC, TEST_LOG_SIGNAL

__all__ = [
    "TIDY_COLUMNS",
    "collect_runs",
    "find_run_dirs",
    "parse_cfg_dump",
    "parse_elapsed",
    "parse_log",
    "read_run",
]

TIDY_COLUMNS = [
    "protocol",
    "method",
    "dataset",
    "dataset_config",
    "shots",
    "seed",
    "backbone",
    "subsample_classes",
    "selection",
    "uses_test",
    "eval_only",
    "status",
    "accuracy",
    "error_rate",
    "macro_f1",
    "zeros",
    "sparsity",
    "sparsity_visual",
    "sparsity_clip",
    "elapsed_s",
    "bad_images",
    "trainer",
    "source",
    "finished_at",
    *IDENTITY_COLUMNS,
    "path",
]

_METRIC_RE = re.compile(r"^\* ([A-Za-z0-9_]+): ([-+0-9.,eE]+)%?$")
_KEY_RE = re.compile(r"^( *)([A-Za-z0-9_]+):(?: (.*))?$")
_PROGRESS_RE = re.compile(r"^epoch \[\d+/\d+\]")
_ELAPSED_RE = re.compile(r"^Elapsed: (?:(\d+) days?, )?(\d+):(\d{2}):(\d{2}(?:\.\d+)?)$")
_SEED_DIR_RE = re.compile(r"^seed(\d+)$")
_METRIC_KEYS = {
    "accuracy": "accuracy",
    "error": "error_rate",
    "macro_f1": "macro_f1",
    "zeros": "zeros",
    "sparsity": "sparsity",
    "sparsity_visual": "sparsity_visual",
    "sparsity_clip": "sparsity_clip",
}
_DG_NAMES = set(DG_TARGETS)


def _literal(raw: str) -> Any:
    text = raw.strip()
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text


def parse_cfg_dump(lines: list[str], start: int = 0) -> dict[str, Any]:
    """Parse a yacs ``print(cfg)`` dump (2-space nested ``KEY: value`` lines) into a nested dict.

    Parsing starts at ``lines[start]`` and stops at the first line that is neither blank nor a
    ``KEY: value`` line. A ``KEY:`` followed by a deeper-indented line opens a node; otherwise
    the value is the empty string. Values are read with ``ast.literal_eval`` (strings stay strings).
    """
    root: dict[str, Any] = {}
    stack: list[tuple[int, dict[str, Any]]] = [(-1, root)]
    i = start
    n = len(lines)
    while i < n:
        line = lines[i].rstrip("\r\n")
        if not line.strip():
            i += 1
            continue
        m = _KEY_RE.match(line)
        if not m:
            break
        indent, key, raw = len(m.group(1)), m.group(2), m.group(3)
        while stack[-1][0] >= indent:
            stack.pop()
        parent = stack[-1][1]
        if raw is None or not raw.strip():
            j = i + 1
            while j < n and not lines[j].strip():
                j += 1
            nxt = lines[j] if j < n else ""
            nxt_indent = len(nxt) - len(nxt.lstrip(" "))
            if j < n and nxt_indent > indent and _KEY_RE.match(nxt.rstrip("\r\n")):
                node: dict[str, Any] = {}
                parent[key] = node
                stack.append((indent, node))
            else:
                parent[key] = {} if raw is None else ""
        else:
            parent[key] = _literal(raw)
        i += 1
    return root


def _block_after(lines: list[str], banner: str) -> int | None:
    """Index of the first line after ``banner`` and its closing row of stars, or None."""
    for i, line in enumerate(lines):
        if line.strip() == banner:
            j = i + 1
            if j < len(lines) and set(lines[j].strip()) == {"*"}:
                j += 1
            return j
    return None


def parse_elapsed(text: str) -> float | None:
    """``Elapsed: 0:41:07`` (or ``1 day, 2:03:04``) -> seconds."""
    m = _ELAPSED_RE.match(text.strip())
    if not m:
        return None
    days = int(m.group(1) or 0)
    return days * 86400 + int(m.group(2)) * 3600 + int(m.group(3)) * 60 + float(m.group(4))


def parse_log(text: str) -> dict[str, Any]:
    """Read a CoOp-format ``log.txt``.

    Returns ``{"config": dict, "args": dict, "metrics": dict, "finished": bool, "eval_only": bool,
    "elapsed_s": float | None}``. ``metrics`` holds accuracy, error_rate, macro_f1 and the mask
    sparsity keys that appear after the end signal (the last value of each wins).
    """
    lines = text.splitlines()
    stripped = [ln.strip() for ln in lines]

    cfg_start = _block_after(lines, "** Config **")
    config = parse_cfg_dump(lines, cfg_start) if cfg_start is not None else {}
    args_start = _block_after(lines, "** Arguments **")
    args = parse_cfg_dump(lines, args_start) if args_start is not None else {}

    finish = [i for i, s in enumerate(stripped) if s == END_SIGNAL]
    trained = any(_PROGRESS_RE.match(s) for s in stripped)
    start: int | None
    if finish:
        start = finish[-1]
    else:
        tests = [i for i, s in enumerate(stripped) if s == "Evaluate on the *test* set"]
        results = [i for i, s in enumerate(stripped) if s == TEST_LOG_SIGNAL]
        if tests:
            start = tests[-1]
        elif results and not trained:
            start = results[0]
        else:
            start = None

    metrics: dict[str, float] = {}
    if start is not None:
        for s in stripped[start:]:
            m = _METRIC_RE.match(s)
            if m and m.group(1) in _METRIC_KEYS:
                try:
                    metrics[_METRIC_KEYS[m.group(1)]] = float(m.group(2).replace(",", ""))
                except ValueError:
                    continue
    elapsed = None
    for s in reversed(stripped):
        if s.startswith("Elapsed:"):
            elapsed = parse_elapsed(s)
            break
    eval_only_arg = args.get("eval_only")
    eval_only = bool(eval_only_arg) if eval_only_arg is not None else (not finish and not trained)
    return {
        "config": config,
        "args": args,
        "metrics": metrics,
        "finished": RESULT_METRIC in metrics,
        "eval_only": eval_only,
        "elapsed_s": elapsed,
    }


def find_run_dirs(root: str | Path, exclude: Iterable[str | Path] = ()) -> list[Path]:
    """Every folder under ``root`` (itself included) holding ``results.json`` or ``log.txt``, sorted.

    Hidden folders and the folders in ``exclude`` (e.g. the report folder) are skipped.
    """
    root = Path(root)
    skip = {Path(p).resolve() for p in exclude}
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = sorted(
            d for d in dirnames if not d.startswith(".") and (here / d).resolve() not in skip
        )
        if "results.json" in filenames or "log.txt" in filenames:
            found.append(here)
    return sorted(found)


def _seed_from_path(path: Path) -> int | None:
    for part in reversed(path.parts):
        m = _SEED_DIR_RE.match(part)
        if m:
            return int(m.group(1))
    return None


def _zero_shot_trainer(trainer: str) -> bool:
    method = method_for_trainer(trainer)
    return method is not None and method.role == "zero-shot"


def _protocol(dataset: str, subsample: str, eval_only: bool, trainer: str) -> str:
    if subsample in ("base", "new"):
        return "base2new"
    if dataset in _DG_NAMES:
        return "domain_generalisation"
    if eval_only and not _zero_shot_trainer(trainer):
        # An evaluation-only run of a trained method on a few-shot dataset (e.g. cross-dataset
        # transfer or a re-evaluation): kept in the tidy CSV, not in the few-shot table.
        return "eval_only"
    return "fewshot"


def _record(
    *,
    path: Path,
    config: dict[str, Any],
    metrics: dict[str, Any],
    sparsity: dict[str, Any] | None,
    finished: bool,
    eval_only: bool,
    elapsed_s: float | None,
    source: str,
    overrides: dict[str, Any] | None = None,
) -> dict[str, Any]:
    o = overrides or {}
    trainer = str(o.get("trainer") or cfg_get(config, "TRAINER.NAME", "") or "")
    method = o.get("method") or (method_label(config) if trainer else "unknown")
    registry = str(o.get("dataset") or cfg_get(config, "DATASET.NAME", "") or "")
    dataset = paper_dataset_name(registry) if registry else "unknown"
    dataset_cfg = str(o.get("dataset_config") or (dataset_config_name(registry) if registry else ""))
    shots = o.get("shots", cfg_get(config, "DATASET.NUM_SHOTS"))
    shots = stored_shots(_zero_shot_trainer(trainer) or method == ZERO_SHOT, shots)
    seed = o.get("seed", cfg_get(config, "SEED"))
    if seed is None or int(seed) < 0:
        seed = _seed_from_path(path)
    backbone = str(o.get("backbone") or cfg_get(config, "MODEL.BACKBONE.NAME", "") or "")
    weights_file = str(cfg_get(config, "MODEL.BACKBONE.PATH", "") or "")
    if not o.get("backbone") and weights_file:
        # a log without results.json cannot tell what the file held: never label it with the name asked for
        backbone = f"{backbone or '?'} (file {os.path.basename(weights_file)}, unverified)"
    subsample = str(
        o.get("subsample_classes") or cfg_get(config, "DATASET.SUBSAMPLE_CLASSES", "all") or "all"
    )
    sp = sparsity or {}
    sel = o.get("selection") if isinstance(o.get("selection"), dict) else selection_protocol(config)
    rec = {
        "protocol": _protocol(dataset, subsample, eval_only, trainer),
        "method": method,
        "dataset": dataset,
        "dataset_config": dataset_cfg,
        "shots": shots,
        "seed": int(seed) if seed is not None else None,
        "backbone": backbone,
        "subsample_classes": subsample,
        "selection": str(sel.get("name") or "default"),
        "uses_test": bool(sel.get("uses_test", False)),
        "eval_only": bool(eval_only),
        "status": "ok" if finished else "crashed",
        "accuracy": metrics.get("accuracy"),
        "error_rate": metrics.get("error_rate", metrics.get("error")),
        "macro_f1": metrics.get("macro_f1"),
        "zeros": sp.get("zeros"),
        "sparsity": sp.get("sparsity"),
        "sparsity_visual": sp.get("sparsity_visual"),
        "sparsity_clip": sp.get("sparsity_clip"),
        "elapsed_s": elapsed_s,
        "bad_images": o.get("bad_images"),
        "trainer": trainer,
        "source": source,
        "finished_at": o.get("finished_at"),
        "path": str(path),
    }
    return rec


def read_run(path: str | Path) -> dict[str, Any] | None:
    """One run folder -> one tidy record (``status`` "ok" or "crashed"); None if there is nothing to read."""
    found = _read(Path(path))
    return None if found is None else found[0]


def _read(path: Path) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """``(tidy record, config)`` of one run folder, or None."""
    rj = path / "results.json"
    if rj.is_file():
        try:
            data = read_results(str(path)).raw
        except (OSError, RecordError):
            data = None  # unreadable, unfinished or a newer format: fall back to the log
        if data is not None:
            config = data.get("config") or {}
            sparsity = data.get("sparsity")
            overrides = {
                "trainer": data.get("trainer"),
                "method": data.get("method"),
                "dataset": data.get("dataset"),
                "dataset_config": data.get("dataset_config"),
                "backbone": data.get("backbone"),
                "subsample_classes": data.get("subsample_classes"),
                "finished_at": data.get("finished_at"),
                "selection": data.get("selection"),
                "bad_images": (data.get("bad_images") or {}).get("count"),
            }
            for key in ("shots", "seed"):
                if data.get(key) is not None:
                    overrides[key] = data[key]
            rec = _record(
                path=path,
                config=config,
                metrics=data["metrics"],
                sparsity=sparsity if isinstance(sparsity, dict) else None,
                finished=True,
                eval_only=bool(data.get("eval_only", False)),
                elapsed_s=data.get("elapsed_s"),
                source="results.json",
                overrides={k: v for k, v in overrides.items() if v is not None},
            )
            return rec, config
    log = path / "log.txt"
    if not log.is_file():
        return None
    try:
        text = log.read_text(errors="replace")
    except OSError:
        text = ""
    parsed = parse_log(text)
    metrics = parsed["metrics"]
    sparsity = {
        k: metrics[k] for k in ("zeros", "sparsity", "sparsity_visual", "sparsity_clip") if k in metrics
    }
    overrides: dict[str, Any] = {}
    dcfg = parsed["args"].get("dataset_config_file")
    if isinstance(dcfg, str) and dcfg:
        overrides["dataset_config"] = Path(dcfg).stem
    rec = _record(
        path=path,
        config=parsed["config"],
        metrics=metrics,
        sparsity=sparsity or None,
        finished=parsed["finished"],
        eval_only=parsed["eval_only"],
        elapsed_s=parsed["elapsed_s"],
        source="log.txt",
        overrides=overrides,
    )
    return rec, parsed["config"]


def collect_runs(root: str | Path, exclude: Iterable[str | Path] = ()) -> pd.DataFrame:
    """Read every run under ``root`` into the tidy table (columns ``TIDY_COLUMNS``, one row per run).

    Runs are grouped by their identity (``ramt.report.variants``): a variant of a method (other
    settings or its own ``EXP`` folder next to the default run) gets its own labelled row, and two
    finished runs of one identity and seed are both ``"conflict"``, counted nowhere.
    """
    records, configs = [], []
    for run_dir in find_run_dirs(root, exclude=exclude):
        found = _read(run_dir)
        if found is None:
            continue
        rec, config = found
        rec["path"] = str(run_dir)
        records.append(rec)
        configs.append(config if isinstance(config, dict) else {})
    assign_variants(records, configs)
    df = pd.DataFrame.from_records(records, columns=TIDY_COLUMNS)
    if df.empty:
        return df
    df["shots"] = df["shots"].astype(int)
    df["seed"] = df["seed"].astype("Int64")
    return df.sort_values(
        ["protocol", "method", "dataset", "shots", "seed", "path"], kind="stable"
    ).reset_index(drop=True)
