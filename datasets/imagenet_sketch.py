"""CoOp layout entry point: the dataset lives in ``ramt.datasets.imagenet_sketch``."""

from ramt.datasets.imagenet_sketch import *  # noqa: F401,F403
