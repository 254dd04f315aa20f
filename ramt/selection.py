"""Selection protocols of Tip-Adapter(-F): where (beta, alpha) are searched, which Tip-F epoch is kept.

Two config keys (defaults in ``ramt/config.py``) describe every choice a Tip-Adapter run makes:

- ``TRAINER.TIP.SEARCH_SPLIT``: ``val_fewshot`` (default: the few-shot val split, min(K, 4) per
  class; no test data touched) | ``val`` (the dataset's full validation split) | ``test``;
- ``TRAINER.TIP.F_EPOCH``: ``last`` (default: the last-epoch adapter) | ``best_test`` (the Tip-F
  epoch best on test with the initial (beta, alpha), and the reported accuracy is the larger of that
  epoch's test accuracy and the test accuracy after the search).

The *official* protocol is what Tip-Adapter's own code does: search on the full val split for ten
datasets and on test for ImageNet (which has no val split), and keep the best-on-test Tip-F epoch.
``selection_protocol`` names the protocol of a run from its (nested) config, so that the trainer
(``results.json``), the report and the sweep label runs the same way. Stdlib only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ramt.methods import cfg_get, registered_methods
from ramt.tip_protocol import (
    DEFAULT_PROTOCOL,
    F_EPOCHS,
    OFFICIAL_PROTOCOL,
    PROTOCOLS,
    SEARCH_SPLITS,
    official_choice,
    protocol_options,
    variant_folder,
)

__all__ = [
    "DEFAULT_PROTOCOL",
    "F_EPOCHS",
    "OFFICIAL_PROTOCOL",
    "PROTOCOLS",
    "SEARCH_SPLITS",
    "is_new_best",
    "official_choice",
    "official_report_uses_epoch",
    "protocol_description",
    "protocol_options",
    "selection_protocol",
    "tip_trainers",
    "variant_folder",
]


def _as_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def tip_trainers() -> tuple[str, ...]:
    """Trainers with Tip-Adapter's selection: the ``tip_adapter`` method and the combinations hosted by it."""
    return tuple(t for m in registered_methods() if "tip_adapter" in (m.key, m.host) for t in m.trainers)


def is_new_best(accuracy_now: float, best_so_far: float | None) -> bool:
    """The official Tip-F epoch rule: keep an epoch when it *strictly* beats the best so far.

    The official code starts from 0.0; ``None`` (no epoch yet) always accepts, so that an epoch is
    kept even when every test accuracy is 0.
    """
    return best_so_far is None or accuracy_now > best_so_far


def official_report_uses_epoch(best_epoch_accuracy: float, searched_accuracy: float) -> bool:
    """The official Tip-F report: max(best-epoch test accuracy, searched test accuracy); True when the
    best epoch's (initial beta/alpha) wins."""
    return best_epoch_accuracy > searched_accuracy


def protocol_description(search_split: str | None, f_epoch: str | None) -> str:
    """``search on full val, Tip-F epoch best on test`` etc. (for logs, tables and footnotes)."""
    where = {"val_fewshot": "few-shot val", "val": "full val", "test": "test"}
    parts = [f"search on {where.get(search_split or '', search_split)}"] if search_split else []
    epochs = {"last": "Tip-F last epoch", "best_test": "Tip-F epoch best on test"}
    if f_epoch:
        parts.append(epochs.get(f_epoch, "Tip-F epoch best on few-shot val"))
    return ", ".join(parts) or "no selection"


def selection_protocol(cfg: Mapping[str, Any] | None) -> dict[str, Any]:
    """The selection protocol of a run, from its nested config (yacs node or dict).

    Returns ``{"name", "search_split", "f_epoch", "uses_test", "description"}``. ``name`` is
    ``default`` (few-shot val search, last epoch; every method other than Tip-Adapter),
    ``official`` (Tip-Adapter's own choice for the run's dataset) or ``custom`` (any other mix).
    ``uses_test`` is True when test data chose anything (search split or Tip-F epoch).
    """
    trainer = str(cfg_get(cfg, "TRAINER.NAME", "") or "")
    if trainer not in tip_trainers():
        return {
            "name": DEFAULT_PROTOCOL,
            "search_split": None,
            "f_epoch": None,
            "uses_test": False,
            "description": "no test data used for any choice",
        }
    finetune = _as_bool(cfg_get(cfg, "TRAINER.TIP.FINETUNE", False))
    searched = _as_bool(cfg_get(cfg, "TRAINER.TIP.SEARCH_HP", True))
    search = str(cfg_get(cfg, "TRAINER.TIP.SEARCH_SPLIT", "val_fewshot") or "val_fewshot")
    f_epoch = str(cfg_get(cfg, "TRAINER.TIP.F_EPOCH", "last") or "last") if finetune else None
    if finetune and str(cfg_get(cfg, "TRAINER.TIP.SELECT", "last")) == "val":
        f_epoch = "best_val_fewshot"  # the optional few-shot-val epoch selection (TRAINER.TIP.SELECT val)
    search_used = search if searched else None
    official = official_choice(str(cfg_get(cfg, "DATASET.NAME", "") or ""), finetune)
    if (search_used, f_epoch) == ("val_fewshot", "last" if finetune else None):
        name = DEFAULT_PROTOCOL
    elif (search_used, f_epoch) == (official["search_split"], official["f_epoch"]):
        name = OFFICIAL_PROTOCOL
    else:
        name = "custom"
    return {
        "name": name,
        "search_split": search_used,
        "f_epoch": f_epoch,
        "uses_test": search_used == "test" or f_epoch == "best_test",
        "description": protocol_description(search_used, f_epoch),
    }
