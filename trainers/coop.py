"""CoOp layout entry point: the trainer lives in ``ramt.trainers.coop``."""

from ramt.trainers.coop import *  # noqa: F401,F403
