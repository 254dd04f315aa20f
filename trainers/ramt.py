"""CoOp layout entry point: the trainer lives in ``ramt.trainers.ramt``."""

from ramt.trainers.ramt import *  # noqa: F401,F403
