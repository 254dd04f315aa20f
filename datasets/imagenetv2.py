"""CoOp layout entry point: the dataset lives in ``ramt.datasets.imagenetv2``."""

from ramt.datasets.imagenetv2 import *  # noqa: F401,F403
