"""CoOp layout entry point: the trainer lives in ``ramt.trainers.zsclip``."""

from ramt.trainers.zsclip import *  # noqa: F401,F403
