"""CoOp layout entry point: the dataset lives in ``ramt.datasets.caltech101``."""

from ramt.datasets.caltech101 import *  # noqa: F401,F403
