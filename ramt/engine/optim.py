"""Optimisers and closed-form per-epoch LR schedules (Dassl semantics, checkpoint-safe state)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Optional, Union

import torch
import torch.nn as nn

AVAILABLE_OPTIMIZERS = ("adam", "amsgrad", "sgd", "rmsprop", "adamw", "radam")
AVAILABLE_SCHEDULERS = ("single_step", "multi_step", "cosine")


def build_optimizer(
    model: Union[nn.Module, Iterable], optim_cfg, param_groups: Optional[list] = None
) -> torch.optim.Optimizer:
    """Build the optimiser named by ``optim_cfg.NAME`` over a module, parameters or groups."""
    name = optim_cfg.NAME
    if name not in AVAILABLE_OPTIMIZERS:
        raise ValueError(f"OPTIM.NAME '{name}' is not supported; choose one of {AVAILABLE_OPTIMIZERS}")
    if param_groups is not None:
        params = param_groups
    elif isinstance(model, nn.Module):
        params = [p for p in model.parameters() if p.requires_grad]
    else:
        params = list(model)
    lr, wd = optim_cfg.LR, optim_cfg.WEIGHT_DECAY
    betas = (optim_cfg.ADAM_BETA1, optim_cfg.ADAM_BETA2)
    if name in ("adam", "amsgrad"):
        return torch.optim.Adam(params, lr=lr, weight_decay=wd, betas=betas, amsgrad=name == "amsgrad")
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=wd, betas=betas)
    if name == "sgd":
        return torch.optim.SGD(
            params,
            lr=lr,
            momentum=optim_cfg.MOMENTUM,
            weight_decay=wd,
            dampening=optim_cfg.SGD_DAMPNING,
            nesterov=optim_cfg.SGD_NESTEROV,
        )
    if name == "rmsprop":
        return torch.optim.RMSprop(
            params, lr=lr, momentum=optim_cfg.MOMENTUM, weight_decay=wd, alpha=optim_cfg.RMSPROP_ALPHA
        )
    return torch.optim.RAdam(params, lr=lr, weight_decay=wd, betas=betas)


def scheduled_lr(
    epoch: int,
    base_lr: float,
    max_epoch: int,
    scheduler: str = "cosine",
    stepsize: tuple = (-1,),
    gamma: float = 0.1,
    warmup_epoch: int = -1,
    warmup_type: str = "linear",
    warmup_cons_lr: float = 1e-5,
    warmup_min_lr: float = 1e-5,
    warmup_recount: bool = True,
) -> float:
    """The learning rate used during 0-based ``epoch`` (docs/ENGINE.md, "Learning-rate schedules").

    After ``warmup_epoch`` warm-up epochs the successor schedule takes over at ``base_lr``. With
    ``warmup_recount`` (Dassl's default) it counts its epochs from there; without, its counter
    starts at ``warmup_epoch`` (it counts the warm-up epochs) while its lr is still ``base_lr``, so
    every later lr is ``base_lr * f(epoch) / f(warmup_epoch)`` of the closed form ``f`` (what
    Dassl's chained torch schedulers compute).
    """
    if warmup_epoch > 0 and epoch < warmup_epoch:
        if warmup_type == "constant":
            return warmup_cons_lr
        if warmup_type == "linear":
            return warmup_min_lr if epoch == 0 else base_lr * epoch / warmup_epoch
        raise ValueError(f"OPTIM.WARMUP_TYPE '{warmup_type}' is not supported; use constant or linear")
    if warmup_epoch <= 0:
        return successor_lr(epoch, 0, base_lr, max_epoch, scheduler, stepsize, gamma)
    if warmup_recount:
        return successor_lr(epoch - warmup_epoch, 0, base_lr, max_epoch, scheduler, stepsize, gamma)
    return successor_lr(epoch, warmup_epoch, base_lr, max_epoch, scheduler, stepsize, gamma)


def successor_lr(
    e: int, start: int, base_lr: float, max_epoch: int, scheduler: str, stepsize, gamma: float
) -> float:
    """The post-warm-up schedule at its epoch ``e``, given that it is at ``base_lr`` at its epoch ``start``."""
    if scheduler == "cosine":
        return base_lr * (1 + math.cos(math.pi * e / max_epoch)) / (1 + math.cos(math.pi * start / max_epoch))
    if scheduler == "single_step":
        step = stepsize[-1] if isinstance(stepsize, (list, tuple)) else stepsize
        if step <= 0:
            step = max_epoch
        return base_lr * gamma ** (e // step - start // step)
    if scheduler == "multi_step":
        first = start + 1 if start > 0 else 0  # a milestone at 0 applies from the start (torch)
        return base_lr * gamma ** sum(1 for m in stepsize if first <= m <= e)
    raise ValueError(
        f"OPTIM.LR_SCHEDULER '{scheduler}' is not supported; choose one of {AVAILABLE_SCHEDULERS}"
    )


class EpochLRScheduler:
    """Sets every group's lr from the closed form; state is ``{"last_epoch": int}`` plus settings."""

    def __init__(self, optimizer: torch.optim.Optimizer, optim_cfg, max_epoch: Optional[int] = None) -> None:
        if optim_cfg.LR_SCHEDULER not in AVAILABLE_SCHEDULERS:
            raise ValueError(
                f"OPTIM.LR_SCHEDULER '{optim_cfg.LR_SCHEDULER}' is not supported; "
                f"choose one of {AVAILABLE_SCHEDULERS}"
            )
        self.optimizer = optimizer
        self.settings = dict(
            max_epoch=int(max_epoch if max_epoch is not None else optim_cfg.MAX_EPOCH),
            scheduler=optim_cfg.LR_SCHEDULER,
            stepsize=tuple(optim_cfg.STEPSIZE),
            gamma=float(optim_cfg.GAMMA),
            warmup_epoch=int(optim_cfg.WARMUP_EPOCH),
            warmup_type=optim_cfg.WARMUP_TYPE,
            warmup_cons_lr=float(optim_cfg.WARMUP_CONS_LR),
            warmup_min_lr=float(optim_cfg.WARMUP_MIN_LR),
            warmup_recount=bool(optim_cfg.WARMUP_RECOUNT),
        )
        self.base_lrs = [g["lr"] for g in optimizer.param_groups]
        self.last_epoch = 0
        self._apply()

    def lr_at(self, epoch: int, base_lr: float) -> float:
        return scheduled_lr(epoch, base_lr, **self.settings)

    def _apply(self) -> None:
        for group, base in zip(self.optimizer.param_groups, self.base_lrs):
            group["lr"] = self.lr_at(self.last_epoch, base)

    def step(self) -> None:
        self.last_epoch += 1
        self._apply()

    def get_last_lr(self) -> list[float]:
        return [g["lr"] for g in self.optimizer.param_groups]

    def state_dict(self) -> dict:
        return {
            "last_epoch": self.last_epoch,
            "base_lrs": list(self.base_lrs),
            **{k: v for k, v in self.settings.items()},
        }

    def load_state_dict(self, state: dict) -> None:
        self.last_epoch = int(state["last_epoch"])
        self.base_lrs = list(state.get("base_lrs", self.base_lrs))
        self._apply()


def build_lr_scheduler(
    optimizer: torch.optim.Optimizer, optim_cfg, max_epoch: Optional[int] = None
) -> EpochLRScheduler:
    return EpochLRScheduler(optimizer, optim_cfg, max_epoch=max_epoch)
