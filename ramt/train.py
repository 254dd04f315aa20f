"""Train or evaluate a trainer: CoOp's command line, this suite's engine.

    python train.py --root $DATA --seed 1 --trainer RAMT \
        --dataset-config-file configs/datasets/caltech101.yaml \
        --config-file configs/trainers/RAMT/vit_b16.yaml \
        --output-dir output/caltech101/RAMT/vit_b16_16shots/seed1 DATASET.NUM_SHOTS 16

``ramt-train`` (the console entry point) is the same command and works from any folder; the
config files may also be named by the shipped configs' names (``--dataset-config-file digits
--config-file RAMT/vit_b16``).
"""

from __future__ import annotations

import errno
import os
import shlex
import sys
import time
import traceback
from typing import Optional

import torch

from ramt.cli_config import build_parser, import_plugins, setup_cfg
from ramt.config import ConfigError, resolve_cache_dir
from ramt.engine.checkpoint import RESUME_FILE
from ramt.engine.compile_cache import enable_compile_caches
from ramt.registry import TRAINER_REGISTRY
from ramt.runs import RunFolder, RunLockedError
from ramt.utils.env import collect_env_info
from ramt.utils.logformat import log_is_finished
from ramt.utils.logger import Tee, close_logger, setup_logger
from ramt.utils.paths import cache_dir_fix, check_run_paths
from ramt.utils.seed import set_random_seed


def print_args(args, cfg) -> None:
    print("***************")
    print("** Arguments **")
    print("***************")
    for key in sorted(args.__dict__):
        print(f"{key}: {args.__dict__[key]}")
    print("************")
    print("** Config **")
    print("************")
    print(cfg)


def resume_command() -> str:
    """The command that re-runs (and so resumes) this one: the runner script's when it set one."""
    script = os.environ.get("RAMT_COMMAND", "").strip()
    if script:
        return script
    argv = list(sys.argv)
    if argv and argv[0].endswith(".py") and os.path.basename(argv[0]) != "__main__.py":
        if os.path.abspath(argv[0]) == os.path.abspath(__file__):
            return shlex.join([sys.executable, "-m", "ramt.train", *argv[1:]])
        return shlex.join([sys.executable, *argv])
    return shlex.join(argv)


def interrupted_message(trainer) -> str:
    """One line after Ctrl-C: which epoch is saved and the command that resumes."""
    if trainer is None or not hasattr(trainer, "epoch"):
        return f"Interrupted before training started; nothing to resume. Run again with: {resume_command()}"
    if getattr(trainer, "epochs_done", False):
        return f"Interrupted after training (its final checkpoint is saved). Finish with: {resume_command()}"
    where = f"Interrupted during epoch {trainer.epoch + 1}/{trainer.max_epoch}"
    saved = int(getattr(trainer, "resume_saved_epoch", 0))
    if saved > 0:
        path = os.path.join(trainer.output_dir, RESUME_FILE)
        return f"{where}; epoch {saved} is saved ({path}). Resume with: {resume_command()}"
    return f"{where}; no epoch was saved yet (it restarts from epoch 1). Run again with: {resume_command()}"


def main(args) -> int:
    cfg = setup_cfg(args)
    import_plugins()
    TRAINER_REGISTRY.get(cfg.TRAINER.NAME)  # fail fast on an unknown trainer, before any output
    check_run_paths(cfg.OUTPUT_DIR, resolve_cache_dir(cfg))  # inside OUTPUT, before anything is created
    folder = RunFolder(cfg.OUTPUT_DIR, eval_only=args.eval_only)
    if not args.no_train:
        folder.lock()
    trainer = None
    try:
        identity = folder.identity(cfg, load_epoch=args.load_epoch)
        if not args.no_train:
            folder.check_new_run(identity)
        setup_logger(cfg.OUTPUT_DIR)
        if cfg.SPEED.COMPILE:
            enable_compile_caches(resolve_cache_dir(cfg))
        if cfg.SEED >= 0:
            print(f"Setting fixed seed: {cfg.SEED}")
            set_random_seed(cfg.SEED, deterministic=cfg.DETERMINISTIC)
        if torch.cuda.is_available() and cfg.USE_CUDA and not cfg.DETERMINISTIC:
            torch.backends.cudnn.benchmark = True
        print_args(args, cfg)
        print("Collecting env info ...")
        print("** System info **\n" + collect_env_info() + "\n")

        if cfg.VERBOSE:
            print(f"Loading trainer: {cfg.TRAINER.NAME}")
        trainer_cls = TRAINER_REGISTRY.get(cfg.TRAINER.NAME)
        dataset_config = args.dataset_config_file
        trainer = trainer_cls(
            cfg,
            dataset_config=os.path.splitext(os.path.basename(dataset_config))[0] if dataset_config else "",
            eval_only=args.eval_only,
        )
        if not args.no_train:
            identity["split"] = getattr(trainer.dm.dataset, "split_fingerprint", "")
            folder.record(identity, cfg, trainer.dm.dataset)

        if args.eval_only:
            trainer.load_model(args.model_dir, epoch=args.load_epoch)
            trainer.test()
            trainer.write_results()
            print(f"Elapsed: {trainer.elapsed_str()}")
            return 0
        if not args.no_train:
            trainer.train()
        return 0
    except KeyboardInterrupt:
        report_error(
            interrupted_message(trainer), prefix="", run_dir=None if args.no_train else cfg.OUTPUT_DIR
        )
        return 130
    finally:
        folder.release()


USER_ERRORS = (
    ConfigError,
    FileNotFoundError,
    FileExistsError,
    ValueError,
    KeyError,
    NotImplementedError,
    FloatingPointError,
    RunLockedError,
)

_OS_FIXES = {
    errno.EACCES: "make the folder writable for you, or choose a writable --output-dir / OUTPUT",
    errno.EPERM: "make the folder writable for you, or choose a writable --output-dir / OUTPUT",
    errno.EROFS: "the file system is read-only: choose a writable --output-dir / OUTPUT",
    errno.ENOSPC: "free disk space (or choose an --output-dir / OUTPUT and RAMT_CACHE_DIR on another disk), "
    "then run the same command again: it resumes from the last saved epoch",
    errno.EDQUOT: "your disk quota is exhausted: free space or write elsewhere, then run the same command again",
    errno.ENOENT: "check the path (DATASET.ROOT, --output-dir, the dataset's split file; see docs/DATASETS.md)",
}


def os_error_message(e: OSError) -> str:
    """One paragraph for an I/O failure: the path, the cause and the fix."""
    path = e.filename or "(unknown path)"
    cause = e.strerror or str(e)
    fix = cache_dir_fix(e.filename or "", cause) or _OS_FIXES.get(
        e.errno, "check that the path exists and is writable, then run again"
    )
    return f"Cannot use {path}: {cause}. Fix: {fix}."


def report_error(msg: str, prefix: str = "ERROR: ", run_dir: Optional[str] = None) -> None:
    """Print ``msg`` once on the terminal (stderr) and, when logging, once into log.txt.

    Before the logger is open, ``run_dir`` (a folder this process holds the lock of) gets the line
    appended to its unfinished ``log.txt``, so a stop during setup is in the log that is resumed.
    """
    line = f"{prefix}{msg}"
    print(line, file=sys.stderr, flush=True)
    try:
        if isinstance(sys.stdout, Tee):
            sys.stdout.file.write(line + "\n")
            sys.stdout.file.flush()
        elif run_dir and os.path.isfile(os.path.join(run_dir, "log.txt")):
            path = os.path.join(run_dir, "log.txt")
            if not log_is_finished(path, test_log=None):
                with open(path, "a", encoding="utf-8") as f:
                    f.write(line + "\n")
    except OSError:
        pass


def _set_aside_failed_log() -> None:
    """A run that failed after printing its result must not look finished: its log is kept aside."""
    if not isinstance(sys.stdout, Tee):
        return
    path = sys.stdout.path
    if log_is_finished(path, test_log=None):
        close_logger()
        kept = f"{path}-{time.strftime('%Y-%m-%d-%H-%M-%S')}.incomplete"
        try:
            os.replace(path, kept)
            print(f"The failed run's log is kept as {kept}", file=sys.stderr)
        except OSError:
            pass


def cli(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return main(args)
    except (*USER_ERRORS, OSError, RuntimeError) as e:
        if os.environ.get("RAMT_DEBUG"):
            traceback.print_exc()
        if isinstance(e, OSError) and e.errno is not None:
            msg = os_error_message(e)  # raised by the system: name the path, the cause, the fix
        elif isinstance(e, RuntimeError) and not isinstance(e, RunLockedError):
            if not isinstance(e.__cause__, OSError):
                raise
            msg = os_error_message(e.__cause__)
        else:
            msg = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
        report_error(msg)
        _set_aside_failed_log()
        return 2 if not isinstance(e, FloatingPointError) else 1
    finally:
        close_logger()


if __name__ == "__main__":
    sys.exit(cli())
