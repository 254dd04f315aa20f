"""The training command line and the config it resolves: shared by ``train.py`` and the run check.

CLI layer, below ``ramt.train`` and ``ramt.runs`` so that neither imports the other. Resolving a
config needs only yacs (no torch): the skip check (``python -m ramt.runs is-finished``) stays fast.
"""

from __future__ import annotations

import argparse
import os

from ramt.config import ConfigError, get_cfg_default, merge_from_file, merge_from_list
from ramt.methods import load_plugins

__all__ = ["build_parser", "import_plugins", "reset_cfg", "setup_cfg"]

#: The usage text of ``train.py`` / ``ramt-train`` (its ``--help`` description).
USAGE = """Train or evaluate a trainer: CoOp's command line, this suite's engine.

    python train.py --root $DATA --seed 1 --trainer RAMT \\
        --dataset-config-file configs/datasets/caltech101.yaml \\
        --config-file configs/trainers/RAMT/vit_b16.yaml \\
        --output-dir output/caltech101/RAMT/vit_b16_16shots/seed1 DATASET.NUM_SHOTS 16

``ramt-train`` (the console entry point) is the same command and works from any folder; the
config files may also be named by the shipped configs' names (``--dataset-config-file digits
--config-file RAMT/vit_b16``).
"""


def build_parser() -> argparse.ArgumentParser:
    """CoOp's ``train.py`` flags, plus ``--no-train``."""
    p = argparse.ArgumentParser(description=USAGE, formatter_class=argparse.RawDescriptionHelpFormatter)
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
    """Apply the command-line flags to ``cfg``."""
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


def import_plugins() -> None:
    """Register every shipped trainer and dataset (they live in the installed package), then the
    methods outside it named by ``$RAMT_PLUGINS`` (``ramt.methods.load_plugins``)."""
    import ramt.datasets  # noqa: F401  local import: registers the datasets (and pulls in torch)
    import ramt.trainers  # noqa: F401  local import: registers the trainers (and pulls in torch)

    load_plugins()
