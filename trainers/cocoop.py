"""CoOp layout entry point: the trainer lives in ``ramt.trainers.cocoop``."""

from ramt.trainers.cocoop import *  # noqa: F401,F403
