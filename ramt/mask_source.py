"""Stage 1 of the two-stage combinations: reuse the masks of a finished R-AMT run.

``MASK.SOURCE_RUN`` names an R-AMT run folder (``<OUTPUT>/<dataset>/RAMT/vit_b16_<K>shots/seed<S>``)
or a mask file written from one (``python -m ramt.export RUN --format masks``; its header carries the
run's ``mask_run.json``, so the same checks apply).
Its ``mask_run.json`` says what the masks were trained on; the packed masks are found through the
``shared/checkpoint`` pointer. Before reuse, the backbone, layer selection, dataset, shots, seed,
class subset and split fingerprint must match the current run (docs/BASELINES.md section 4.1).
This is the project's reconstruction: the paper publishes no code for the combinations.
"""

from __future__ import annotations

import os

import torch.nn as nn

import ramt
from ramt.clip.features import weights_identity
from ramt.config import mask_layers
from ramt.engine.checkpoint import load_checkpoint, pointed_checkpoint
from ramt.identity import RUN_FILE, read_identity
from ramt.mask_tuning import MASK_MODEL_NAME, read_run_info
from ramt.masks import (
    MaskSet,
    fold_masks_,
    is_masks_file,
    load_checked_masks_,
    normalize_layers,
    read_masks_file,
)
from ramt.methods import dataset_config_name

__all__ = ["MaskSourceError", "folded_source_encoder", "load_source_masks", "train_command"]


class MaskSourceError(ValueError):
    """The R-AMT run named by MASK.SOURCE_RUN is missing or does not fit the current run."""


def train_command(cfg) -> str:
    """The runner command that trains the R-AMT run a combination needs."""
    dataset = dataset_config_name(cfg.DATASET.NAME)
    return f"SEEDS={int(cfg.SEED)} bash scripts/ramt/main.sh {dataset} {int(cfg.DATASET.NUM_SHOTS)}"


def _backbone(cfg) -> str:
    return cfg.MODEL.BACKBONE.NAME or os.path.basename(cfg.MODEL.BACKBONE.PATH)


def check_source_identity(cfg, run_dir: str, split_fingerprint: str) -> None:
    """The source run's recorded identity (``run.json``, docs/RUNS.md) must share this run's
    backbone weights, split and code version (runs recorded before run.json are not checked)."""
    recorded = read_identity(run_dir)
    if recorded is None:
        return
    current = {"backbone": weights_identity(cfg), "split": split_fingerprint, "code": ramt.__version__}
    diffs = [(k, recorded.get(k), v) for k, v in current.items() if recorded.get(k) != v]
    if diffs:
        shown = "; ".join(f"{k}: recorded {r!r}, now {c!r}" for k, r, c in diffs)
        raise MaskSourceError(
            f"The R-AMT run at {run_dir} was trained on something else ({os.path.join(run_dir, RUN_FILE)} "
            f"differs in {shown}); its masks are not reused. Re-train it for this backbone and data with "
            f"`{train_command(cfg)}` into another OUTPUT (or EXP), and point MASK.SOURCE_RUN at that folder."
        )


def load_source_masks(cfg, clip_model: nn.Module, dataset) -> tuple[MaskSet, dict]:
    """The binary masks of the R-AMT run ``cfg.MASK.SOURCE_RUN`` over ``clip_model.visual``.

    Returns ``(mask_set, info)``; ``info`` is the run's ``mask_run.json`` plus ``run_dir``,
    ``checkpoint`` and the recomputed ``mask_fingerprint``. Raises :class:`MaskSourceError`
    (a ValueError) naming both values and the folder on any mismatch, and naming the command that
    trains the run when it is missing.
    """
    run_dir = cfg.MASK.SOURCE_RUN
    if not run_dir:
        raise MaskSourceError(
            "MASK.SOURCE_RUN is empty: the two-stage combination needs a finished R-AMT run of the same "
            f"dataset, shots and seed. Train it with `{train_command(cfg)}` and pass its folder as "
            "MASK.SOURCE_RUN (the combination scripts do both)."
        )
    run_dir = os.path.abspath(os.path.expanduser(run_dir))
    if is_masks_file(run_dir):  # a mask file from `python -m ramt.export RUN --format masks`
        payload, header = read_masks_file(run_dir)
        info = dict(header.get("run") or {}, mask_fingerprint=header["fingerprint"])
        info_path, ckpt_path = run_dir, run_dir
    else:
        info_path = os.path.join(run_dir, "mask_run.json")
        payload = ckpt_path = None
    if payload is None and not os.path.isfile(info_path):
        raise MaskSourceError(
            f"No finished R-AMT run at {run_dir} (missing {info_path}). Train it first with "
            f"`{train_command(cfg)}`, or point MASK.SOURCE_RUN at an existing R-AMT run folder."
        )
    if payload is None:
        info = dict(read_run_info(run_dir))
    current = {
        "backbone": _backbone(cfg),
        "layers": list(normalize_layers(mask_layers(cfg))),
        "dataset": cfg.DATASET.NAME,
        "shots": int(cfg.DATASET.NUM_SHOTS),
        "seed": int(cfg.SEED),
        "subsample_classes": cfg.DATASET.SUBSAMPLE_CLASSES,
        "split_fingerprint": getattr(dataset, "split_fingerprint", ""),
        "gdr": bool(cfg.MASK.GDR),
    }
    for key, want in current.items():
        got = info.get(key)
        if key == "gdr" and got is None:  # mask_run.json written before GDR was recorded
            continue
        if key == "layers" and got is not None:
            got = list(normalize_layers(got))
        if got != want:
            raise MaskSourceError(
                f"The R-AMT run at {run_dir} does not fit this run: its {key} is {got!r}, this run's is "
                f"{want!r}. Use the R-AMT run of the same backbone, MASK.LAYERS, dataset, shots, seed and "
                f"split (train it with `{train_command(cfg)}`)."
            )
    if payload is None:  # a run folder (a mask file carries no run.json of its own)
        check_source_identity(cfg, run_dir, getattr(dataset, "split_fingerprint", ""))
        model_dir = os.path.join(run_dir, MASK_MODEL_NAME)
        ckpt_path = pointed_checkpoint(model_dir)
        if ckpt_path is None:
            raise MaskSourceError(
                f"The R-AMT run at {run_dir} has no mask checkpoint ({model_dir}/checkpoint pointer missing or "
                f"dangling). Re-train it with `{train_command(cfg)}` after removing the folder."
            )
        payload = load_checkpoint(ckpt_path)["state_dict"]
    mcfg = cfg.MASK
    mask_set = MaskSet.from_module(
        clip_model.visual, layers=mask_layers(cfg), init="1s", scale=mcfg.SCALE, threshold=mcfg.THRESHOLD
    )
    fingerprint = load_checked_masks_(
        mask_set, payload, info.get("mask_fingerprint"), f"{ckpt_path} ({info_path})", MaskSourceError
    )
    info.update(run_dir=run_dir, checkpoint=ckpt_path, mask_fingerprint=fingerprint)
    return mask_set, info


def folded_source_encoder(cfg, clip_model: nn.Module, dataset) -> tuple[nn.Module, dict]:
    """``clip_model.visual`` with the source run's binary masks folded in (in place, ``W := B * W``)."""
    mask_set, info = load_source_masks(cfg, clip_model, dataset)
    visual = fold_masks_(clip_model.visual, mask_set)
    zeros = int(mask_set.num_entries - int(mask_set.binary_flat().sum()))
    info["zeros"], info["total"] = zeros, mask_set.num_entries
    print("Combination (project reconstruction, two-stage): host method on the R-AMT-masked image encoder")
    print(f"Mask run: {info['run_dir']}")
    print(f"Mask checkpoint: {info['checkpoint']}")
    print(
        f"Mask fingerprint: {info['mask_fingerprint']} ({zeros:,} of {mask_set.num_entries:,} entries are zero)"
    )
    return visual, info
