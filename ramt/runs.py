"""The run check, beside the CLI: a run's identity, its lock, its folder and ``is-finished``.

Shared by ``train.py`` (through :class:`RunFolder`) and the runner scripts. The log format (the
finished rule) lives at the bottom in ``ramt.utils.logformat`` and the ``run.json`` record in
``ramt.identity``; both are re-exported here. Importing this module does not import torch: the
scripts call ``is-finished`` once per seed. The rules are in ``docs/RUNS.md``.

**Finished.** A run is finished when its ``log.txt`` holds a ``* accuracy:`` line after the end
signal (:data:`END_SIGNAL` for training logs, :data:`TEST_LOG_SIGNAL` for evaluation-only logs):
exactly what ``parse_test_res.py`` reads. Anything else in a run folder is an unfinished run that
the scripts re-run (resuming from its resume state when there is one).

**Identity.** ``run.json`` records the fingerprint of everything that decides the result (see
``ramt.identity``). The skip check reuses the recorded weights digest and split fingerprint while
the files they were computed from keep their size, mtime and ctime (and the paths, environment
and package versions that located them are unchanged); otherwise it recomputes them.

**Lock.** ``.ramt.lock`` (``ramt.utils.runlock``: a POSIX record lock plus the holder's PID and
host, released when the holder dies whatever its workers do) keeps a second process out of a run
folder for the whole run.

    python -m ramt.runs is-finished DIR [--test-log] [-- TRAIN_ARGS...]
        exit 0: finished (and, given TRAIN_ARGS, recorded with the same identity); 1: not finished;
        3: finished but by a different experiment (the differing keys are printed).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import io
import json
import os
import sys
import time
from typing import Any, Optional

import yaml

import ramt
from ramt.cli_config import build_parser, import_plugins, setup_cfg
from ramt.identity import (
    IDENTITY_IGNORED_KEYS,
    RUN_FILE,
    RunIdentityError,
    check_identity,
    config_identity,
    flatten,
    identity_differences,
    identity_digest,
    mismatch_message,
    read_identity,
    read_inputs,
    write_identity,
)
from ramt.utils.logformat import (
    END_SIGNAL,
    RESULT_METRIC,
    TEST_LOG_SIGNAL,
    is_finished,
    log_is_finished,
    log_result,
    log_value,
    metric_regex,
)
from ramt.utils.runlock import LOCK_FILE, RunLock, RunLockedError

__all__ = [
    "END_SIGNAL",
    "EXIT_MISMATCH",
    "IDENTITY_IGNORED_KEYS",
    "LOCK_FILE",
    "RESULT_METRIC",
    "RUN_FILE",
    "TEST_LOG_SIGNAL",
    "RunFolder",
    "RunIdentityError",
    "RunLock",
    "RunLockedError",
    "check_identity",
    "config_identity",
    "flatten",
    "identity_differences",
    "identity_digest",
    "identity_from_train_args",
    "is_finished",
    "log_is_finished",
    "log_result",
    "log_value",
    "main",
    "metric_regex",
    "mismatch_message",
    "read_identity",
    "record_inputs",
    "recorded_identity",
    "run_identity",
    "write_identity",
]

#: Exit status of ``is-finished`` for a finished run of a different experiment.
EXIT_MISMATCH = 3
#: Environment variables that decide where the inputs are found (the data root, caches, CLIP folder).
INPUT_ENV = ("DATA", "HOME", "XDG_CACHE_HOME", "RAMT_CACHE_DIR", "RAMT_CLIP_DIR", "RAMT_PLUGINS")
#: Packages whose code decides the ``tiny`` weights and the features.
INPUT_PACKAGES = ("torch", "open_clip_torch")
#: A file changed this close to (or after) the start of the identity computation is not trusted
#: for the skip check: coarse file-system clocks could hide a change made while it was hashed.
INPUT_CLOCK_SLACK_NS = 2_000_000_000


# --------------------------------------------------------------------------- identity


def run_identity(
    cfg, split_fingerprint: Optional[str] = None, eval_only: bool = False, load_epoch=None
) -> dict[str, Any]:
    """The fingerprint of the run ``cfg`` describes (``split_fingerprint`` None: not yet known)."""
    from ramt.clip.features import weights_identity  # local import: torch, kept out of the skip check

    ident = config_identity(yaml.safe_load(cfg.dump()))
    ident["backbone"] = weights_identity(cfg)
    ident["code"] = ramt.__version__
    ident["eval_only"] = bool(eval_only)
    ident["load_epoch"] = load_epoch
    if split_fingerprint is not None:
        ident["split"] = split_fingerprint
    return ident


def identity_from_train_args(argv: list[str]) -> dict[str, Any]:
    """The full identity of the run ``train.py ARGV`` would do (builds the dataset, quietly)."""
    from ramt.data.manager import build_dataset  # local import: torch, kept out of the skip check

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


# --------------------------------------------------------------------------- recorded inputs


def _file_stat(path: str) -> Optional[list[int]]:
    """``[size, mtime_ns, ctime_ns]`` of ``path`` (None when absent)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns]


def _package_version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return ""


def input_key(cfg) -> dict[str, Any]:
    """What locates the inputs: the whole config (paths included), the folder, the environment."""
    return {
        "config": flatten(yaml.safe_load(cfg.dump())),
        "cwd": os.getcwd(),
        "env": {k: os.environ.get(k) for k in INPUT_ENV},
        "packages": {k: _package_version(k) for k in INPUT_PACKAGES},
    }


def _backbone_files(cfg) -> list[str]:
    """The files the weights digest of ``cfg`` depends on (present or absent)."""
    from ramt.clip.backend import (  # local import: torch, loaded by the run anyway
        OPENAI_FILES,
        build_tiny_clip,
        clip_search_dirs,
    )

    path = cfg.MODEL.BACKBONE.PATH
    if path:
        return [os.path.abspath(os.path.expanduser(path))]
    if cfg.MODEL.BACKBONE.NAME == "tiny":
        return [os.path.abspath(build_tiny_clip.__code__.co_filename)]
    fname = OPENAI_FILES.get(cfg.MODEL.BACKBONE.NAME)
    return [os.path.join(d, fname) for d in clip_search_dirs()] if fname else []


def record_inputs(cfg, identity: dict[str, Any], dataset, since_ns: Optional[int] = None) -> dict[str, Any]:
    """What ``identity``'s weights digest and split fingerprint were computed from, for ``run.json``.

    The split is recorded only for a dataset that names the files its fingerprint is computed
    from (``fingerprint_inputs``); any other dataset is rebuilt by the skip check. So is every
    run whose input files changed after ``since_ns`` (``time.time_ns()`` before the identity was
    computed): their stats may postdate what was hashed.
    """
    split_files = getattr(dataset, "fingerprint_inputs", None)
    files = _backbone_files(cfg) + [os.path.abspath(p) for p in split_files or ()]
    stats = {p: _file_stat(p) for p in files}
    if since_ns is not None:
        late = since_ns - INPUT_CLOCK_SLACK_NS
        split_files = split_files and not any(st and max(st[1], st[2]) >= late for st in stats.values())
    return {
        "key": input_key(cfg),
        "backbone": identity.get("backbone"),
        "split": identity.get("split") if split_files else None,
        "files": stats,
    }


def recorded_identity(run_dir: str, cfg, eval_only: bool, load_epoch) -> Optional[dict[str, Any]]:
    """The identity of the run ``cfg`` describes, from the inputs ``run_dir`` recorded.

    None when anything the recorded digest or fingerprint depends on may have changed (then the
    caller recomputes them): another config, folder, environment or package version, or a file
    whose size, mtime or ctime differs.
    """
    inputs = read_inputs(run_dir)
    if not inputs or inputs.get("split") is None or not isinstance(inputs.get("files"), dict):
        return None
    if inputs.get("key") != _json_roundtrip(input_key(cfg)):
        return None
    if any(_file_stat(p) != stat for p, stat in inputs["files"].items()):
        return None
    ident = config_identity(yaml.safe_load(cfg.dump()))
    ident["backbone"] = inputs["backbone"]
    ident["code"] = ramt.__version__
    ident["eval_only"] = bool(eval_only)
    ident["load_epoch"] = load_epoch
    ident["split"] = inputs["split"]
    return ident


def _json_roundtrip(value: Any) -> Any:
    """``value`` as ``run.json`` gives it back (tuples become lists), for comparing keys."""
    return json.loads(json.dumps(value, default=str))


# --------------------------------------------------------------------------- lock


class RunFolder:
    """One run folder as ``train.py`` uses it: its path, lock, finished check and identity record."""

    def __init__(self, path: str, eval_only: bool = False) -> None:
        self.path = path
        self.eval_only = eval_only
        self._lock: Optional[RunLock] = None
        self._identity_since_ns: Optional[int] = None

    @property
    def log_path(self) -> str:
        return os.path.join(self.path, "log.txt")

    @property
    def record_path(self) -> str:
        return os.path.join(self.path, RUN_FILE)

    def is_finished(self) -> bool:
        """Whether the folder holds a finished log of this kind (training or evaluation-only)."""
        return is_finished(self.path, test_log=self.eval_only)

    def lock(self) -> RunFolder:
        """Hold the folder's lock (raises :class:`RunLockedError` when another process holds it)."""
        self._lock = RunLock(self.path).acquire()
        return self

    def release(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def identity(self, cfg, load_epoch=None) -> dict[str, Any]:
        """The identity of the run ``cfg`` describes in this folder (split not known yet)."""
        self._identity_since_ns = time.time_ns()
        return run_identity(cfg, eval_only=self.eval_only, load_epoch=load_epoch)

    def check_new_run(self, identity: dict[str, Any]) -> None:
        """Never silently overwrite a finished run, nor resume or reuse a different experiment."""
        finished = self.is_finished()
        check_identity(self.path, identity, finished=finished)
        if finished:
            raise FileExistsError(
                f"Output folder {self.path} already holds a finished run (its log.txt has a result). "
                "Choose another --output-dir, or delete that folder to run again."
            )

    def record(self, identity: dict[str, Any], cfg, dataset) -> None:
        """Check the completed identity (split known) again and write it, with its inputs, to run.json."""
        check_identity(self.path, identity)
        inputs = record_inputs(cfg, identity, dataset, since_ns=self._identity_since_ns)
        write_identity(self.path, identity, _json_roundtrip(inputs))
        print(f"Identity of this run: {identity_digest(identity)} (recorded in {self.record_path})")

    def check_finished(self, train_args: list[str]) -> bool:
        """``is-finished``: True when finished and (given ``train_args``) of the same experiment."""
        if not self.is_finished():
            return False
        if train_args and read_identity(self.path) is not None:
            args = build_parser().parse_args(train_args)
            cfg = setup_cfg(args)
            current = recorded_identity(self.path, cfg, args.eval_only, args.load_epoch)
            if current is None:
                current = identity_from_train_args(train_args)
            check_identity(self.path, current, finished=True)
        return True


# --------------------------------------------------------------------------- CLI


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
        return 0 if RunFolder(args.dir, eval_only=args.test_log).check_finished(train_args) else 1
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
