"""CoOp layout entry point: the dataset lives in ``ramt.datasets.oxford_flowers``."""

from ramt.datasets.oxford_flowers import *  # noqa: F401,F403
