"""CoOp layout entry point: the dataset lives in ``ramt.datasets.food101``."""

from ramt.datasets.food101 import *  # noqa: F401,F403
