"""Trainers, registered by name when imported (CoOp layout: one trainer per file).

``<Host>RAMT`` (a host on a finished R-AMT run's masks) is created on demand by ``compose``.
"""

from . import (
    cocoop,  # noqa: F401
    compose,  # noqa: F401
    coop,  # noqa: F401
    coop_ramt,  # noqa: F401
    linear_probe,  # noqa: F401
    prograd,  # noqa: F401
    ramt,  # noqa: F401
    tip_adapter,  # noqa: F401
    tip_adapter_ramt,  # noqa: F401
    upt,  # noqa: F401
    vpt,  # noqa: F401
    zsclip,  # noqa: F401
)
