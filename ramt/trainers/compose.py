"""R-AMT on top of any host method: the one generic two-stage composition (docs/BASELINES.md sections 4 and 12).

The trainer ``<Host>RAMT`` is ``(SourceMasks, Host)``: the masks of the finished R-AMT run of the
same dataset, shots, seed and backbone (``MASK.SOURCE_RUN``) are folded into the image encoder the
host builds through ``build_image_encoder``, then the host trains and evaluates as usual. Hosts
that tune the encoder's input (VPT-deep, UPT) see the folded weights frozen like the rest of CLIP.

No class is written per combination: :func:`combination_trainer` derives it from the host class,
and the trainer registry creates it on demand when ``<Host>RAMT`` is looked up (any registered host,
shipped or plugin). The matching method entry is :func:`ramt.methods.combination_method`.
"""

from __future__ import annotations

from typing import Optional, Union

from ramt.engine.clip_trainer import ClipTrainer
from ramt.registry import TRAINER_REGISTRY

from ._masked import MaskedTrainer, SourceMasks

__all__ = ["SUFFIX", "combination_trainer", "resolve_combination"]

#: ``TRAINER.NAME`` of a combination = host trainer name + SUFFIX (CoOpRAMT, VPTRAMT, ...)
SUFFIX = "RAMT"


def combination_trainer(host: Union[str, type]) -> type:
    """The two-stage trainer class ``<Host>RAMT`` for a host trainer (name or class), registered once."""
    host_cls = TRAINER_REGISTRY.get(host) if isinstance(host, str) else host
    name = host_cls.__name__ + SUFFIX
    if name in TRAINER_REGISTRY:
        existing = TRAINER_REGISTRY.get(name)
        if not (
            isinstance(existing, type)
            and issubclass(existing, SourceMasks)
            and issubclass(existing, host_cls)
        ):
            raise ValueError(
                f"ERROR: trainer {name!r} is registered but is not {host_cls.__name__} on R-AMT masks; "
                f"rename that trainer, or the host, so that {name!r} can be the combination."
            )
        return existing
    if not issubclass(host_cls, ClipTrainer) or issubclass(host_cls, (SourceMasks, MaskedTrainer)):
        raise ValueError(
            f"ERROR: {host_cls.__name__} cannot host R-AMT's masks: a host must be a ClipTrainer that builds "
            "its frozen image encoder through build_image_encoder and trains no masks itself."
        )
    cls = type(
        name,
        (SourceMasks, host_cls),
        {
            "__doc__": f"{host_cls.__name__} on the image encoder with a finished R-AMT run's masks folded in.",
            "__module__": __name__,
            "host_trainer": host_cls.__name__,
        },
    )
    TRAINER_REGISTRY.register(cls)
    globals()[name] = cls  # importable (and picklable) as ramt.trainers.compose.<name>
    return cls


def resolve_combination(name: str) -> Optional[type]:
    """Registry resolver: ``<Host>RAMT`` for a registered host ``<Host>``, else None."""
    host = name[: -len(SUFFIX)]
    if not name.endswith(SUFFIX) or not host or host not in TRAINER_REGISTRY:
        return None
    return combination_trainer(host)


TRAINER_REGISTRY.add_resolver(resolve_combination)
