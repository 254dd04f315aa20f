"""CoOp layout entry point: the dataset lives in ``ramt.datasets.eurosat``."""

from ramt.datasets.eurosat import *  # noqa: F401,F403
