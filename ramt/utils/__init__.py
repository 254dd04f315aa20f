from .io import atomic_torch_save, atomic_write_json, atomic_write_text, mkdir_if_missing, read_json
from .logger import close_logger, setup_logger
from .meters import AverageMeter, MetricMeter
from .seed import get_rng_state, set_random_seed, set_rng_state

__all__ = [
    "AverageMeter",
    "MetricMeter",
    "atomic_torch_save",
    "atomic_write_json",
    "atomic_write_text",
    "close_logger",
    "get_rng_state",
    "mkdir_if_missing",
    "read_json",
    "set_random_seed",
    "set_rng_state",
    "setup_logger",
]
