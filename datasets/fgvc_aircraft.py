"""CoOp layout entry point: the dataset lives in ``ramt.datasets.fgvc_aircraft``."""

from ramt.datasets.fgvc_aircraft import *  # noqa: F401,F403
