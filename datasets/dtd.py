"""CoOp layout entry point: the dataset lives in ``ramt.datasets.dtd``."""

from ramt.datasets.dtd import *  # noqa: F401,F403
