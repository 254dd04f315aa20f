from .checkpoint import load_checkpoint, save_checkpoint
from .evaluator import Classification, build_evaluator, macro_f1
from .optim import EpochLRScheduler, build_lr_scheduler, build_optimizer, scheduled_lr
from .trainer import SimpleTrainer, TrainerBase, TrainerX, cfg_to_dict

__all__ = [
    "Classification",
    "EpochLRScheduler",
    "SimpleTrainer",
    "TrainerBase",
    "TrainerX",
    "build_evaluator",
    "build_lr_scheduler",
    "build_optimizer",
    "cfg_to_dict",
    "load_checkpoint",
    "macro_f1",
    "save_checkpoint",
    "scheduled_lr",
]
