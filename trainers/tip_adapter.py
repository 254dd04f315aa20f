"""CoOp layout entry point: the trainer lives in ``ramt.trainers.tip_adapter``."""

from ramt.trainers.tip_adapter import *  # noqa: F401,F403
