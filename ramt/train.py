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

import argparse
import errno
import os
import shlex
import sys
import time
import traceback
from typing import Optional

import torch

from ramt.config import ConfigError, get_cfg_default, merge_from_file, merge_from_list, resolve_cache_dir
from ramt.engine.checkpoint import RESUME_FILE
from ramt.registry import TRAINER_REGISTRY
from ramt.runs import (
    RUN_FILE,
    RunLock,
    RunLockedError,
    check_identity,
    identity_digest,
    is_finished,
    log_is_finished,
    run_identity,
    write_identity,
)
from ramt.utils.env import collect_env_info
from ramt.utils.logger import Tee, close_logger, setup_logger
from ramt.utils.paths import cache_dir_fix, check_run_paths
from ramt.utils.seed import set_random_seed


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--root", type=str, default="", help="path to the dataset root (DATASET.ROOT)")
    p.add_argument("--output-dir", type=str, default="", help="output directory (OUTPUT_DIR)")
    p.add_argument("--resume", type=str, default="", help="checkpoint directory to resume from (RESUME)")
    p.add_argument(
        "--seed", type=int, default=None, help="seed >= 0 fixes few-shot subsets and all RNGs (SEED)"
    )
    p.add_argument("--source-domains", type=str, nargs="+", help="source domains (printed only)")
    p.add_argument("--target-domains", type=str, nargs="+", help="target domains (printed only)")
    p.add_argument("--transforms", type=str, nargs="+", help="data augmentation methods (INPUT.TRANSFORMS)")
    p.add_argument("--config-file", type=str, default="", help="method config file")
    p.add_argument("--dataset-config-file", type=str, default="", help="dataset config file")
    p.add_argument("--trainer", type=str, default="", help="trainer name (TRAINER.NAME)")
    p.add_argument("--backbone", type=str, default="", help="CLIP backbone name (MODEL.BACKBONE.NAME)")
    p.add_argument(
        "--head", type=str, default="", help="(CoOp's flag; refused: the CLIP trainers have no head)"
    )
    p.add_argument("--eval-only", action="store_true", help="evaluation only")
    p.add_argument(
        "--model-dir", type=str, default="", help="load the model from this directory for --eval-only"
    )
    p.add_argument("--load-epoch", type=int, help="load the checkpoint of this epoch (model.pth.tar-N)")
    p.add_argument("--no-train", action="store_true", help="build the trainer but do not train")
    p.add_argument(
        "opts", default=None, nargs=argparse.REMAINDER, help="modify config options as KEY VALUE pairs"
    )
    return p


def reset_cfg(cfg, args) -> None:
    if args.root:
        cfg.DATASET.ROOT = args.root
    if args.output_dir:
        cfg.OUTPUT_DIR = args.output_dir
    if args.resume:
        cfg.RESUME = args.resume
    if args.seed is not None:  # seed 0 is honoured (the reference ignored it)
        cfg.SEED = args.seed
    if args.source_domains:
        cfg.DATASET.SOURCE_DOMAINS = args.source_domains
    if args.target_domains:
        cfg.DATASET.TARGET_DOMAINS = args.target_domains
    if args.transforms:
        cfg.INPUT.TRANSFORMS = args.transforms
    if args.trainer:
        cfg.TRAINER.NAME = args.trainer
    if args.backbone:
        cfg.MODEL.BACKBONE.NAME = args.backbone
    if args.head:
        raise ConfigError(
            f"--head {args.head!r}: the CLIP trainers have no separate head network (MODEL.HEAD.NAME is "
            "not supported). Remove the flag."
        )


def setup_cfg(args):
    """Defaults -> dataset yaml -> method yaml -> CLI flags -> KEY VALUE opts -> freeze."""
    cfg = get_cfg_default()
    if args.dataset_config_file:
        merge_from_file(cfg, args.dataset_config_file, kind="datasets")
    if args.config_file:
        merge_from_file(cfg, args.config_file, kind="trainers")
    reset_cfg(cfg, args)
    merge_from_list(cfg, args.opts or [])
    if not cfg.DATASET.ROOT:
        cfg.DATASET.ROOT = os.environ.get("DATA", "./data")
    cfg.freeze()
    return cfg


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


def import_plugins() -> None:
    """Register every shipped trainer and dataset (they live in the installed package), then the
    methods outside it named by ``$RAMT_PLUGINS`` (``ramt.methods.load_plugins``)."""
    import ramt.datasets  # noqa: F401
    import ramt.trainers  # noqa: F401
    from ramt.methods import load_plugins

    load_plugins()


def check_output_dir(cfg, args, identity: dict) -> None:
    """Never silently overwrite a finished run, nor resume or reuse a different experiment."""
    if args.no_train:
        return
    finished = is_finished(cfg.OUTPUT_DIR, test_log=args.eval_only)
    check_identity(cfg.OUTPUT_DIR, identity, finished=finished)
    if finished:
        raise FileExistsError(
            f"Output folder {cfg.OUTPUT_DIR} already holds a finished run (its log.txt has a result). "
            "Choose another --output-dir, or delete that folder to run again."
        )


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
    lock = None if args.no_train else RunLock(cfg.OUTPUT_DIR).acquire()
    trainer = None
    try:
        identity = run_identity(cfg, eval_only=args.eval_only, load_epoch=args.load_epoch)
        check_output_dir(cfg, args, identity)
        setup_logger(cfg.OUTPUT_DIR)
        if cfg.SPEED.COMPILE:
            from ramt.engine.compile_cache import enable_compile_caches

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
            check_identity(cfg.OUTPUT_DIR, identity)
            write_identity(cfg.OUTPUT_DIR, identity)
            print(
                f"Identity of this run: {identity_digest(identity)} (recorded in {os.path.join(cfg.OUTPUT_DIR, RUN_FILE)})"
            )

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
            interrupted_message(trainer), prefix="", run_dir=None if lock is None else cfg.OUTPUT_DIR
        )
        return 130
    finally:
        if lock is not None:
            lock.release()


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
