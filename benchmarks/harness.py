"""Helpers shared by ``bench_step.py`` and the equivalence tests.

Trainers are built without a dataset: :func:`make_trainer` runs a trainer's own ``build_model``
on a list of class names and a CLIP model handed in (random weights for the real backbones,
so no weights file is needed), and the steps are fed synthetic batches.
"""

from __future__ import annotations

import contextlib
import copy
import tempfile
from types import SimpleNamespace
from typing import Optional

import torch
from torch import nn

from ramt.clip.backend import CLIP_NAMES, load_clip
from ramt.config import get_cfg_default
from ramt.engine.trainer import TrainerBase

from .reference import reference_trainer

__all__ = ["random_clip", "bench_cfg", "make_trainer", "synthetic_batch", "classnames"]

_CLIP_CACHE: dict[str, nn.Module] = {}


def _finalize(model: nn.Module) -> nn.Module:
    model = model.float().eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def random_clip(backbone: str) -> nn.Module:
    """A frozen fp32 CLIP with random weights (``tiny``: the project's fixed-seed model).

    Real backbone names (``ViT-B/16``...) are built by open_clip with QuickGELU and
    ``pretrained=None``: the compute is that of the real checkpoint, nothing is downloaded.
    Built once per process (on the CPU) and deep-copied for every caller.
    """
    if backbone not in _CLIP_CACHE:
        if backbone == "tiny":
            model = load_clip("tiny")
        else:
            import open_clip

            name = CLIP_NAMES.get(backbone, backbone)
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(0)
                model = open_clip.create_model(name, pretrained=None, force_quick_gelu=True)
            model = _finalize(model)
        _CLIP_CACHE[backbone] = model
    return copy.deepcopy(_CLIP_CACHE[backbone])


def bench_cfg(
    trainer: str,
    backbone: str = "tiny",
    reference: bool = False,
    compile: bool = False,
    bf16: bool = True,
    dataset: str = "ImageNet",
    shots: int = 16,
    lr: Optional[float] = None,
):
    cfg = get_cfg_default()
    cfg.TRAINER.NAME = trainer
    cfg.MODEL.BACKBONE.NAME = backbone
    cfg.DATASET.NAME = dataset
    cfg.DATASET.NUM_SHOTS = shots
    cfg.SPEED.REFERENCE = bool(reference)
    cfg.SPEED.COMPILE = bool(compile)
    cfg.SPEED.BF16 = bool(bf16)
    cfg.SPEED.TRUNCATE_TEXT = not reference
    cfg.SPEED.FEATURE_CACHE = False
    cfg.OPTIM.MAX_EPOCH = 1
    if lr is not None:
        cfg.OPTIM.LR = lr
    cfg.OUTPUT_DIR = tempfile.mkdtemp(prefix="ramt-bench-")
    return cfg


def classnames(n: int) -> list[str]:
    return [f"class {i}" for i in range(n)]


def make_trainer(cls, cfg, names: list[str], device, clip_model: nn.Module, quiet: bool = True):
    """Build trainer ``cls`` around ``clip_model`` without a data manager (one endless epoch).

    With ``SPEED.REFERENCE`` a trainer that trains masks gets the official code's step
    (:class:`benchmarks.reference.ReferenceMaskTuner`).
    """
    device = torch.device(device)
    if cfg.SPEED.REFERENCE:
        cls = reference_trainer(cls)
    t = cls.__new__(cls)
    TrainerBase.__init__(t)
    t.cfg = cfg
    t.device = device
    t.start_epoch = t.epoch = 0
    t.max_epoch = cfg.OPTIM.MAX_EPOCH
    t.output_dir = cfg.OUTPUT_DIR
    t.extra_results = {}
    t.batch_idx, t.num_batches = 0, 1 << 30
    t.dm = SimpleNamespace(
        classnames=list(names),
        num_classes=len(names),
        lab2cname=dict(enumerate(names)),
        dataset=SimpleNamespace(split_fingerprint="synthetic"),
    )
    t.num_classes = len(names)
    t.lab2cname = t.dm.lab2cname
    t.load_clip_model = lambda: clip_model
    if hasattr(cls, "check_cfg"):
        t.check_cfg(cfg)
    ctx = contextlib.redirect_stdout(None) if quiet else contextlib.nullcontext()
    with ctx:
        t.build_model()
    return t


def synthetic_batch(batch: int, size: int, num_classes: int, device, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    img = torch.randn(batch, 3, size, size, generator=g)
    label = torch.randint(0, num_classes, (batch,), generator=g)
    return {"img": img.to(device), "label": label.to(device)}
