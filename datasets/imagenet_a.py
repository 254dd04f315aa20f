"""CoOp layout entry point: the dataset lives in ``ramt.datasets.imagenet_a``."""

from ramt.datasets.imagenet_a import *  # noqa: F401,F403
