"""Trainers, registered by name when imported (CoOp layout: one trainer per file)."""

from . import (
    coop,  # noqa: F401
    coop_ramt,  # noqa: F401
    ramt,  # noqa: F401
    tip_adapter,  # noqa: F401
    tip_adapter_ramt,  # noqa: F401
    zsclip,  # noqa: F401
)
