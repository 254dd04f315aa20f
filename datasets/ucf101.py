"""CoOp layout entry point: the dataset lives in ``ramt.datasets.ucf101``."""

from ramt.datasets.ucf101 import *  # noqa: F401,F403
