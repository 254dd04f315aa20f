"""CoOp layout entry point: the dataset lives in ``ramt.datasets.stanford_cars``."""

from ramt.datasets.stanford_cars import *  # noqa: F401,F403
