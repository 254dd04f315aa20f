"""Run-folder state: when a run is finished, what identifies it, and who may write to it.

Shared by ``train.py``, the log writer, ``parse_test_res.py``, the report and the runner scripts.
Stdlib only at import time (the scripts call it once per seed); the identity of a would-be run
(:func:`identity_from_train_args`) imports the heavy parts lazily. The rules are in ``docs/RUNS.md``.

**Finished.** A run is finished when its ``log.txt`` holds a ``* accuracy:`` line after the end
signal (:data:`END_SIGNAL` for training logs, :data:`TEST_LOG_SIGNAL` for evaluation-only logs):
exactly what ``parse_test_res.py`` reads. Anything else in a run folder is an unfinished run that
the scripts re-run (resuming from its resume state when there is one).

**Identity.** ``run.json`` records the fingerprint of everything that decides the result: the
resolved config minus paths and verbosity, the backbone's weights digest, the dataset's split
fingerprint and the code version. Skipping, resuming and reusing a run all compare it.

**Lock.** ``.ramt.lock`` (``ramt.utils.runlock``: a POSIX record lock plus the holder's PID and
host, released when the holder dies whatever its workers do) keeps a second process out of a run
folder for the whole run.

    python -m ramt.runs is-finished DIR [--test-log] [-- TRAIN_ARGS...]
        exit 0: finished (and, given TRAIN_ARGS, recorded with the same identity); 1: not finished;
        3: finished but by a different experiment (the differing keys are printed).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sys
from typing import Any, Optional

from ramt.utils.runlock import LOCK_FILE, RunLock, RunLockedError  # noqa: F401  (re-exported)

#: Printed by the trainer after the last epoch; a training log's result follows it.
END_SIGNAL = "Finish training"
#: Printed by the evaluator before the metric lines; an evaluation-only log's result follows it.
TEST_LOG_SIGNAL = "=> result"
#: The metric that makes a log a finished run.
RESULT_METRIC = "accuracy"
#: The identity record of a run folder.
RUN_FILE = "run.json"
#: Exit status of ``is-finished`` for a finished run of a different experiment.
EXIT_MISMATCH = 3


def metric_regex(keyword: str = RESULT_METRIC) -> re.Pattern:
    """CoOp's pattern for a ``* <keyword>: X%`` result line."""
    return re.compile(rf"\* {re.escape(keyword)}: ([\.\deE+-]+)%")


def log_value(log_path: str, regex: re.Pattern, end_signal: str = END_SIGNAL):
    """The last value matching ``regex`` after a line equal to ``end_signal`` (None if absent)."""
    if not os.path.isfile(log_path):
        return None
    good, value = False, None
    with open(log_path, errors="replace") as f:
        for line in f:
            line = line.strip()
            if line == end_signal:
                good = True
            m = regex.search(line)
            if m and good:
                value = float(m.group(1))
    return value


def log_result(log_path: str, test_log: bool = False):
    """The accuracy after the end signal in ``log_path`` (None if absent)."""
    return log_value(log_path, metric_regex(RESULT_METRIC), TEST_LOG_SIGNAL if test_log else END_SIGNAL)


def log_is_finished(log_path: str, test_log: Optional[bool] = False) -> bool:
    """The one definition of a finished log; ``test_log=None`` accepts either kind of log."""
    if test_log is None:
        return log_result(log_path) is not None or log_result(log_path, test_log=True) is not None
    return log_result(log_path, test_log=test_log) is not None


def is_finished(run_dir: str, test_log: Optional[bool] = False) -> bool:
    return log_is_finished(os.path.join(run_dir, "log.txt"), test_log=test_log)


# --------------------------------------------------------------------------- identity

#: Config keys that do not decide the result: paths, verbosity, checkpoint cadence, file checks,
#: the feature cache switch (a cache hit gives the same features).
#: ``MODEL.BACKBONE.PATH`` is replaced by the weights digest; ``MASK.SOURCE_RUN`` by the
#: mask-reuse check of ``ramt.mask_source`` (which compares the source run's identity).
IDENTITY_IGNORED_KEYS = frozenset(
    {
        "OUTPUT_DIR",
        "RESUME",
        "VERBOSE",
        "CACHE_DIR",
        "DATASET.ROOT",
        "DATASET.FEWSHOT_CACHE_DIR",
        "DATASET.CHECK_FILES",
        "MODEL.BACKBONE.PATH",
        "MASK.SOURCE_RUN",
        "TRAIN.PRINT_FREQ",
        "TRAIN.CHECKPOINT_FREQ",
        "TRAIN.RESUME_EVERY_S",
        "SPEED.FEATURE_CACHE",
        "DATALOADER.IMAGE_CACHE",
        "TRAIN.TENSORBOARD",  # bitwise-equal tensors either way (docs/SPEED.md)
    }
)


class RunIdentityError(ValueError):
    """A run folder holds (or held) a different experiment than the one asked for."""


def flatten(tree: dict, prefix: str = "") -> dict[str, Any]:
    """``{"A": {"B": 1}}`` -> ``{"A.B": 1}`` (tuples and lists become lists)."""
    out: dict[str, Any] = {}
    for k, v in tree.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        else:
            out[key] = list(v) if isinstance(v, (tuple, list)) else v
    return out


def config_identity(cfg_dict: dict) -> dict[str, Any]:
    """The result-deciding part of a resolved config, as ``{"config.KEY": value}``."""
    flat = flatten(cfg_dict)
    return {f"config.{k}": v for k, v in sorted(flat.items()) if k not in IDENTITY_IGNORED_KEYS}


def run_identity(
    cfg, split_fingerprint: Optional[str] = None, eval_only: bool = False, load_epoch=None
) -> dict[str, Any]:
    """The fingerprint of the run ``cfg`` describes (``split_fingerprint`` None: not yet known)."""
    import yaml

    import ramt
    from ramt.clip.features import weights_identity

    ident = config_identity(yaml.safe_load(cfg.dump()))
    ident["backbone"] = weights_identity(cfg)
    ident["code"] = ramt.__version__
    ident["eval_only"] = bool(eval_only)
    ident["load_epoch"] = load_epoch
    if split_fingerprint is not None:
        ident["split"] = split_fingerprint
    return ident


def identity_digest(ident: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(ident, sort_keys=True, default=str).encode()).hexdigest()[:16]


def read_identity(run_dir: str) -> Optional[dict[str, Any]]:
    """The recorded fingerprint of ``run_dir`` (None when the folder predates run.json)."""
    path = os.path.join(run_dir, RUN_FILE)
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise RunIdentityError(
            f"Cannot read the run record {path}: {e}. Delete that folder (or the file) to run again, or "
            "choose another --output-dir / OUTPUT."
        ) from e
    ident = data.get("fingerprint") if isinstance(data, dict) else None
    return ident if isinstance(ident, dict) else None


def _default_config_values() -> dict[str, Any]:
    import yaml

    from ramt.config import get_cfg_default

    return config_identity(yaml.safe_load(get_cfg_default().dump()))


def identity_differences(recorded: dict[str, Any], current: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """``[(key, recorded, current)]`` for every key whose value differs.

    A key known to only one side counts only when it was not at its default (a config key added
    to the suite later, left at its default, cannot change a result).
    """
    defaults: Optional[dict[str, Any]] = None
    diffs = []
    for key in sorted(set(recorded) | set(current)):
        if key not in recorded or key not in current:
            if key.startswith("config."):
                defaults = _default_config_values() if defaults is None else defaults
                value = current.get(key, recorded.get(key))
                if key in defaults and defaults[key] == value:
                    continue
            if key not in current and key in ("split",):  # not known yet: checked later
                continue
        if recorded.get(key, "<absent>") != current.get(key, "<absent>"):
            diffs.append((key, recorded.get(key, "<absent>"), current.get(key, "<absent>")))
    return diffs


def mismatch_message(run_dir: str, diffs: list[tuple[str, Any, Any]], finished: bool) -> str:
    shown = "; ".join(f"{k.removeprefix('config.')}: recorded {r!r}, now {c!r}" for k, r, c in diffs[:8]) + (
        f"; and {len(diffs) - 8} more" if len(diffs) > 8 else ""
    )
    what = "a finished run" if finished else "an unfinished run"
    exp = os.path.basename(os.path.dirname(os.path.normpath(run_dir))) or "vit_b16_16shots"
    return (
        f"The run folder {run_dir} holds {what} of a different experiment ({os.path.join(run_dir, RUN_FILE)} "
        f"differs in {shown}). Its result is not reused and it is not resumed. Give this experiment its own "
        f"folder: with the runner scripts set EXP=<name> (e.g. EXP={exp}_variant) or another "
        "OUTPUT=...; with train.py pass another --output-dir. Delete the folder only if the old run is "
        "not wanted."
    )


def check_identity(run_dir: str, current: dict[str, Any], finished: bool = False) -> None:
    """Raise :class:`RunIdentityError` when ``run_dir`` records a different identity."""
    recorded = read_identity(run_dir)
    if recorded is None:
        return
    diffs = identity_differences(recorded, current)
    if diffs:
        raise RunIdentityError(mismatch_message(run_dir, diffs, finished))


def write_identity(run_dir: str, ident: dict[str, Any]) -> None:
    """Record ``ident`` in ``run_dir/run.json`` (atomic)."""
    import datetime

    from ramt.utils.io import atomic_write_json

    atomic_write_json(
        os.path.join(run_dir, RUN_FILE),
        {
            "format": 1,
            "digest": identity_digest(ident),
            "recorded_at": datetime.datetime.now().isoformat(timespec="seconds"),
            "fingerprint": ident,
        },
    )


def identity_from_train_args(argv: list[str]) -> dict[str, Any]:
    """The full identity of the run ``train.py ARGV`` would do (builds the dataset, quietly)."""
    import contextlib
    import io

    from ramt.data.manager import build_dataset
    from ramt.train import build_parser, import_plugins, setup_cfg

    args = build_parser().parse_args(argv)
    cfg = setup_cfg(args)
    import_plugins()
    with contextlib.redirect_stdout(io.StringIO()):
        dataset = build_dataset(cfg)
    return run_identity(
        cfg,
        split_fingerprint=getattr(dataset, "split_fingerprint", ""),
        eval_only=args.eval_only,
        load_epoch=args.load_epoch,
    )


# --------------------------------------------------------------------------- CLI


def _is_finished_cli(run_dir: str, test_log: bool, train_args: list[str]) -> int:
    if not is_finished(run_dir, test_log):
        return 1
    if train_args and read_identity(run_dir) is not None:
        current = identity_from_train_args(train_args)
        check_identity(run_dir, current, finished=True)
    return 0


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    train_args: list[str] = []
    if "--" in argv:
        i = argv.index("--")
        argv, train_args = argv[:i], argv[i + 1 :]
    p = argparse.ArgumentParser(prog="python -m ramt.runs")
    sub = p.add_subparsers(dest="cmd", required=True)
    q = sub.add_parser(
        "is-finished",
        help="exit 0 when DIR/log.txt holds a result (and, given '-- TRAIN_ARGS', DIR records the same "
        "experiment; exit 3 when it does not)",
    )
    q.add_argument("dir")
    q.add_argument("--test-log", action="store_true")
    args = p.parse_args(argv)
    try:
        return _is_finished_cli(args.dir, args.test_log, train_args)
    except RunIdentityError as e:
        print(f"ERROR: {e}", file=sys.stderr)
        return EXIT_MISMATCH
    except Exception as e:  # the would-be run cannot even be described: say so, never skip silently
        print(
            f"ERROR: cannot check that the finished run in {args.dir} is the experiment asked for: "
            f"{type(e).__name__}: {e}. Fix the command (or the dataset), or give this run another folder.",
            file=sys.stderr,
        )
        return 2


if __name__ == "__main__":
    sys.exit(main())
