"""CoOp layout entry point: the trainer lives in ``ramt.trainers.linear_probe``."""

from ramt.trainers.linear_probe import *  # noqa: F401,F403
