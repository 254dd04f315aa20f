"""CoOp layout entry point: the dataset lives in ``ramt.datasets.sun397``."""

from ramt.datasets.sun397 import *  # noqa: F401,F403
