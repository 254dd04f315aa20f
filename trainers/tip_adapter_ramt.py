"""CoOp layout entry point: the trainer lives in ``ramt.trainers.tip_adapter_ramt``."""

from ramt.trainers.tip_adapter_ramt import *  # noqa: F401,F403
