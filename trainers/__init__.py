"""Trainers, registered by name when imported (CoOp layout: one trainer per file)."""

from . import zsclip  # noqa: F401
from . import ramt  # noqa: F401
