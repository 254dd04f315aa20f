"""Tip-Adapter's selection protocols as facts: the protocol names, the official code's choices per
dataset, the ``TRAINER.TIP`` options and the run folder of each (``ramt.selection`` applies them to
runs; ``ramt.method_runs`` names the folders). Stdlib only.
"""

from __future__ import annotations

from ramt.catalogue import CATALOGUE

__all__ = [
    "DEFAULT_PROTOCOL",
    "F_EPOCHS",
    "OFFICIAL_PROTOCOL",
    "PROTOCOLS",
    "SEARCH_SPLITS",
    "official_choice",
    "protocol_options",
    "variant_folder",
]

SEARCH_SPLITS: tuple[str, ...] = ("val_fewshot", "val", "test")
F_EPOCHS: tuple[str, ...] = ("last", "best_test")
DEFAULT_PROTOCOL = "default"
OFFICIAL_PROTOCOL = "official"
PROTOCOLS: tuple[str, ...] = (DEFAULT_PROTOCOL, OFFICIAL_PROTOCOL)
# Datasets without a validation split, on which the official code searches on test.
_OFFICIAL_TEST_SEARCH = ("ImageNet",)


def official_choice(dataset: str, finetune: bool = True) -> dict[str, str | None]:
    """The official code's choices for a dataset (registry name): search split and Tip-F epoch."""
    return {
        "search_split": "test" if dataset in _OFFICIAL_TEST_SEARCH else "val",
        "f_epoch": "best_test" if finetune else None,
    }


def protocol_options(protocol: str, dataset: str, finetune: bool) -> tuple[str, ...]:
    """The ``TRAINER.TIP`` options of a protocol for a dataset (config or registry name) and variant.

    ``default``: none (few-shot val search, last Tip-F epoch); ``official``: :func:`official_choice`.
    """
    if protocol == DEFAULT_PROTOCOL:
        return ()
    if protocol != OFFICIAL_PROTOCOL:
        raise ValueError(f"unknown PROTOCOL '{protocol}' (use {' or '.join(PROTOCOLS)})")
    choice = official_choice(CATALOGUE[dataset].registry if dataset in CATALOGUE else dataset, finetune)
    opts = ("TRAINER.TIP.SEARCH_SPLIT", str(choice["search_split"]))
    return opts + (("TRAINER.TIP.F_EPOCH", str(choice["f_epoch"])) if choice["f_epoch"] else ())


def variant_folder(variant: str, protocol: str = DEFAULT_PROTOCOL) -> str:
    """A Tip-Adapter variant's folder: ``tipf``, or ``tipf_official`` for another protocol (never reused
    as, or skipped for, a default run)."""
    return variant if protocol == DEFAULT_PROTOCOL else f"{variant}_{protocol}"
