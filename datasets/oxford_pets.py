"""CoOp layout entry point: the dataset lives in ``ramt.datasets.oxford_pets``."""

from ramt.datasets.oxford_pets import *  # noqa: F401,F403
