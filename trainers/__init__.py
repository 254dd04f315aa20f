"""Trainers, registered by name when imported (CoOp layout: one trainer per file)."""

from . import zsclip  # noqa: F401
from . import ramt  # noqa: F401
from . import coop  # noqa: F401
from . import tip_adapter  # noqa: F401
from . import coop_ramt  # noqa: F401
from . import tip_adapter_ramt  # noqa: F401
