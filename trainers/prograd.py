"""CoOp layout entry point: the trainer lives in ``ramt.trainers.prograd``."""

from ramt.trainers.prograd import *  # noqa: F401,F403
