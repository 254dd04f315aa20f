"""Which runs make a method's headline row: runs grouped by their recorded identity.

A run's identity is its settings (the resolved config minus paths and the seed, the keys
``ramt.identity.IDENTITY_IGNORED_KEYS`` leaves out of ``run.json``), its experiment folder (``EXP``:
empty when the run sits in its method's default folder, from the registry's run-folder rule) and
its backbone. Within one table cell (protocol, method, dataset, shots, backbone, classes, selection):

- the headline (the method's row) is the one identity in the default folder, or the one whose label
  already names it (``AMT`` in its own ``EXP`` folder); for other protocols (base-to-new,
  evaluation), which have no default folder, the one identity of the cell;
- every other identity is its own row ``<method> (<what differs>)``, e.g.
  ``R-AMT (MASK.GDR_LAMBDA=0.9)`` next to the default run, or ``R-AMT (EXP=tiny_4shots_lam)`` for a
  run alone in its own folder; no published number is compared with it;
- two finished runs of one identity and seed are both marked ``conflict`` (listed with both folders
  in ``missing.md``, averaged nowhere): nothing is deduplicated silently.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ramt.identity import IDENTITY_IGNORED_KEYS, flatten
from ramt.method_runs import RunRequest
from ramt.methods import cfg_get, method_for_trainer
from ramt.selection import PROTOCOLS

__all__ = ["IDENTITY_COLUMNS", "assign_variants", "experiment_folder", "settings"]

IDENTITY_COLUMNS = ["identity", "experiment", "variant"]
CELL = ["protocol", "method", "dataset", "shots", "backbone", "subsample_classes", "selection"]
_SEED_DIR = re.compile(r"^seed\d+$")
_NOT_SETTINGS = IDENTITY_IGNORED_KEYS | {"SEED"}
_BACKBONE_KEYS = ("MODEL.BACKBONE.NAME", "MODEL.BACKBONE.PRETRAINED", "MODEL.BACKBONE.PATH", "COMBO.MODE")
_ENV_KEYS = (
    ("NCTX", "TRAINER.COOP.N_CTX"),
    ("CSC", "TRAINER.COOP.CSC"),
    ("CTP", "TRAINER.COOP.CLASS_TOKEN_POSITION"),
)


def settings(config: Mapping[str, Any] | None) -> dict[str, Any]:
    """The result-deciding settings of a run: its flattened config minus paths and the seed."""
    flat = flatten(dict(config or {}))
    return {k: v for k, v in sorted(flat.items()) if k not in _NOT_SETTINGS}


def _digest(values: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode()).hexdigest()[:12]


def _default_folders(rec: Mapping[str, Any], config: Mapping[str, Any]) -> list[tuple[str, ...]]:
    """The folder(s), relative to OUTPUT, the registry's rule gives the run's method without EXP."""
    method = method_for_trainer(str(rec.get("trainer") or ""))
    if method is None:
        return []
    opts: list[str] = []
    for key in _BACKBONE_KEYS:
        value = cfg_get(config, key)
        if value not in (None, ""):
            opts += [key, str(value)]
    env = {name: str(cfg_get(config, key)) for name, key in _ENV_KEYS if cfg_get(config, key) is not None}
    selection = str(rec.get("selection") or "default")
    env["PROTOCOL"] = selection if selection in PROTOCOLS else "default"
    seed = rec.get("seed")
    try:
        request = RunRequest(
            "", str(rec.get("dataset_config") or ""), rec.get("shots"), seed, tuple(opts), env
        )
        return [Path(r.folder).parts for r in method.runs_for(request)]
    except (ValueError, KeyError, TypeError, OSError):
        return []


def experiment_folder(rec: Mapping[str, Any], config: Mapping[str, Any]) -> str:
    """``""`` for a run in its method's default folder, else its experiment folder's name (``EXP``).

    Only few-shot runs of a registered method have a default folder (the registry's rule); other
    protocols (base-to-new, evaluation) and unknown trainers get ``""``.
    """
    if rec.get("protocol") != "fewshot" or method_for_trainer(str(rec.get("trainer") or "")) is None:
        return ""
    path = Path(str(rec["path"]))
    for parts in _default_folders(rec, config):
        if parts and path.parts[-len(parts) :] == parts:
            return ""
    return path.parent.name if _SEED_DIR.match(path.name) else path.name


def _named_variant(rec: Mapping[str, Any], config: Mapping[str, Any]) -> bool:
    """True when the run's label already names what it is (``AMT``, ``R-MMT``: not its method's default
    label ``R-AMT``), so that its own EXP folder cannot pass it off as the default recipe."""
    method = method_for_trainer(str(rec.get("trainer") or ""))
    return method is not None and method.label(config) != method.label(None)


def _value(v: Any) -> str:
    if isinstance(v, (list, tuple)):
        return "(" + ",".join(_value(x) for x in v) + ")"
    return str(v)


def _label(own: Mapping[str, Any], others: Sequence[Mapping[str, Any]], exp: str) -> str:
    """What sets ``own`` apart from the other groups of its cell: ``KEY=value`` pairs, else ``EXP=``."""
    keys = sorted(
        {k for o in others for k in set(o) | set(own) if o.get(k, "<absent>") != own.get(k, "<absent>")}
    )
    parts = [f"{k}={_value(own.get(k, '<absent>'))}" for k in keys[:3]]
    if len(keys) > 3:
        parts.append(f"+{len(keys) - 3} more")
    return ", ".join(parts) if parts else f"EXP={exp or '(default folder)'}"


def assign_variants(records: list[dict[str, Any]], configs: list[Mapping[str, Any]]) -> None:
    """Fill ``identity``/``experiment``/``variant`` of every record, relabel variant rows and mark
    conflicts (see the module docstring); ``configs[i]`` is the config of ``records[i]``."""
    groups: dict[tuple, dict[tuple[str, str], list[int]]] = {}
    own_settings: dict[tuple[str, str], dict[str, Any]] = {}
    candidate: dict[tuple[str, str], bool] = {}
    for i, (rec, config) in enumerate(zip(records, configs)):
        values = settings(config)
        rec["identity"] = _digest(values)
        rec["experiment"] = experiment_folder(rec, config)
        rec["variant"] = ""
        ident = (rec["identity"], rec["experiment"])
        own_settings.setdefault(ident, values)
        candidate.setdefault(ident, rec["experiment"] == "" or _named_variant(rec, config))
        groups.setdefault(tuple(rec[c] for c in CELL), {}).setdefault(ident, []).append(i)
    for idents in groups.values():
        for members in idents.values():
            _mark_conflicts(records, members)
        headlines = [ident for ident in idents if candidate[ident]]
        headline = headlines[0] if len(headlines) == 1 else None
        for ident, members in idents.items():
            if ident == headline:
                continue
            others = [
                own_settings[o] for o in ([headline] if headline else [x for x in idents if x != ident])
            ]
            label = _label(own_settings[ident], others, ident[1])
            for i in members:
                records[i]["variant"] = label
                records[i]["method"] = f"{records[i]['method']} ({label})"


def _mark_conflicts(records: list[dict[str, Any]], members: list[int]) -> None:
    """Finished runs of one identity sharing a seed: all of them become ``conflict``."""
    by_seed: dict[Any, list[int]] = {}
    for i in members:
        if records[i]["status"] == "ok":
            by_seed.setdefault(records[i]["seed"], []).append(i)
    for same in by_seed.values():
        if len(same) > 1:
            for i in same:
                records[i]["status"] = "conflict"
