"""CoOp layout entry point: the dataset lives in ``ramt.datasets.digits``."""

from ramt.datasets.digits import *  # noqa: F401,F403
