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
import os
import sys
import traceback

import torch

from ramt.config import ConfigError, get_cfg_default, merge_from_file, merge_from_list
from ramt.registry import TRAINER_REGISTRY
from ramt.runs import is_finished
from ramt.utils.env import collect_env_info
from ramt.utils.logger import close_logger, setup_logger
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


def check_output_dir(cfg, args) -> None:
    """Never silently overwrite a finished run (one whose log.txt holds a result)."""
    if args.no_train:
        return
    if is_finished(cfg.OUTPUT_DIR, test_log=args.eval_only):
        raise FileExistsError(
            f"Output folder {cfg.OUTPUT_DIR} already holds a finished run (its log.txt has a result). "
            "Choose another --output-dir, or delete that folder to run again."
        )


def main(args) -> int:
    cfg = setup_cfg(args)
    import_plugins()
    TRAINER_REGISTRY.get(cfg.TRAINER.NAME)  # fail fast on an unknown trainer, before any output
    check_output_dir(cfg, args)
    setup_logger(cfg.OUTPUT_DIR)
    if cfg.SPEED.COMPILE:
        from ramt.config import resolve_cache_dir
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

    if args.eval_only:
        trainer.load_model(args.model_dir, epoch=args.load_epoch)
        trainer.test()
        trainer.write_results()
        print(f"Elapsed: {trainer.elapsed_str()}")
        return 0
    if not args.no_train:
        trainer.train()
    return 0


USER_ERRORS = (
    ConfigError,
    FileNotFoundError,
    FileExistsError,
    ValueError,
    KeyError,
    NotImplementedError,
    FloatingPointError,
)


def cli(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return main(args)
    except USER_ERRORS as e:
        if os.environ.get("RAMT_DEBUG"):
            traceback.print_exc()
        msg = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
        print(f"ERROR: {msg}", file=sys.stderr)
        if sys.stdout is not sys.__stdout__:
            print(f"ERROR: {msg}")  # also into log.txt
        return 2 if not isinstance(e, FloatingPointError) else 1
    finally:
        close_logger()


if __name__ == "__main__":
    sys.exit(cli())
