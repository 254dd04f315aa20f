"""CoOp layout entry point: the trainer lives in ``ramt.trainers.coop_ramt``."""

from ramt.trainers.coop_ramt import *  # noqa: F401,F403
