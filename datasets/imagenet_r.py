"""CoOp layout entry point: the dataset lives in ``ramt.datasets.imagenet_r``."""

from ramt.datasets.imagenet_r import *  # noqa: F401,F403
