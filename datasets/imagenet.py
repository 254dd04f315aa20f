"""CoOp layout entry point: the dataset lives in ``ramt.datasets.imagenet``."""

from ramt.datasets.imagenet import *  # noqa: F401,F403
