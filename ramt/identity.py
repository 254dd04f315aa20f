"""The run record ``run.json``: what identifies a run, how two identities are compared, read and written.

Config layer (stdlib plus ``ramt.config``): the run check (``ramt.runs``, beside the CLI) computes a
would-be run's identity and compares it here; ``ramt.mask_source`` reads a source run's record.
The rules are in ``docs/RUNS.md``.

**Identity.** ``run.json`` records the fingerprint of everything that decides the result: the
resolved config minus paths and verbosity, the backbone's weights digest, the dataset's split
fingerprint and the code version. Skipping, resuming and reusing a run all compare it. Beside it,
``inputs`` records what the digest and fingerprint were computed from (files and their stats), so
that the skip check recomputes them only when those inputs changed.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
from typing import Any, Optional

import yaml

from ramt.config import get_cfg_default
from ramt.utils.io import atomic_write_json

__all__ = [
    "IDENTITY_IGNORED_KEYS",
    "RUN_FILE",
    "RunIdentityError",
    "check_identity",
    "config_identity",
    "flatten",
    "identity_differences",
    "identity_digest",
    "mismatch_message",
    "read_identity",
    "read_inputs",
    "write_identity",
]

#: The identity record of a run folder.
RUN_FILE = "run.json"

#: Config keys that do not decide the result: paths, verbosity, checkpoint cadence, file checks,
#: the feature cache switch (a cache hit gives the same features).
#: ``MODEL.BACKBONE.PATH`` is replaced by the weights digest; ``MASK.SOURCE_RUN`` by the
#: mask-reuse check of ``ramt.mask_source`` (which compares the source run's identity).
IDENTITY_IGNORED_KEYS = frozenset(
    {
        "OUTPUT_DIR",
        "RESUME",
        "VERBOSE",
        "CACHE_DIR",
        "DATASET.ROOT",
        "DATASET.FEWSHOT_CACHE_DIR",
        "DATASET.CHECK_FILES",
        "MODEL.BACKBONE.PATH",
        "MASK.SOURCE_RUN",
        "TRAIN.PRINT_FREQ",
        "TRAIN.CHECKPOINT_FREQ",
        "TRAIN.RESUME_EVERY_S",
        "SPEED.FEATURE_CACHE",
        "DATALOADER.IMAGE_CACHE",
        "TRAIN.TENSORBOARD",  # bitwise-equal tensors either way (docs/SPEED.md)
    }
)


class RunIdentityError(ValueError):
    """A run folder holds (or held) a different experiment than the one asked for."""


def flatten(tree: dict, prefix: str = "") -> dict[str, Any]:
    """``{"A": {"B": 1}}`` -> ``{"A.B": 1}`` (tuples and lists become lists)."""
    out: dict[str, Any] = {}
    for k, v in tree.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        else:
            out[key] = list(v) if isinstance(v, (tuple, list)) else v
    return out


def config_identity(cfg_dict: dict) -> dict[str, Any]:
    """The result-deciding part of a resolved config, as ``{"config.KEY": value}``."""
    flat = flatten(cfg_dict)
    return {f"config.{k}": v for k, v in sorted(flat.items()) if k not in IDENTITY_IGNORED_KEYS}


def identity_digest(ident: dict[str, Any]) -> str:
    """A short digest of an identity (printed in the log and stored in ``run.json``)."""
    return hashlib.sha256(json.dumps(ident, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _read_record(run_dir: str) -> Optional[dict[str, Any]]:
    path = os.path.join(run_dir, RUN_FILE)
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise RunIdentityError(
            f"Cannot read the run record {path}: {e}. Delete that folder (or the file) to run again, or "
            "choose another --output-dir / OUTPUT."
        ) from e
    return data if isinstance(data, dict) else None


def read_identity(run_dir: str) -> Optional[dict[str, Any]]:
    """The recorded fingerprint of ``run_dir`` (None when the folder predates run.json)."""
    data = _read_record(run_dir)
    ident = data.get("fingerprint") if data else None
    return ident if isinstance(ident, dict) else None


def read_inputs(run_dir: str) -> Optional[dict[str, Any]]:
    """What the recorded digest and fingerprint were computed from (None when not recorded)."""
    data = _read_record(run_dir)
    inputs = data.get("inputs") if data else None
    return inputs if isinstance(inputs, dict) else None


def _default_config_values() -> dict[str, Any]:
    return config_identity(yaml.safe_load(get_cfg_default().dump()))


def identity_differences(recorded: dict[str, Any], current: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """``[(key, recorded, current)]`` for every key whose value differs.

    A key known to only one side counts only when it was not at its default (a config key added
    to the suite later, left at its default, cannot change a result).
    """
    defaults: Optional[dict[str, Any]] = None
    diffs = []
    for key in sorted(set(recorded) | set(current)):
        if key not in recorded or key not in current:
            if key.startswith("config."):
                defaults = _default_config_values() if defaults is None else defaults
                value = current.get(key, recorded.get(key))
                if key in defaults and defaults[key] == value:
                    continue
            if key not in current and key in ("split",):  # not known yet: checked later
                continue
        if recorded.get(key, "<absent>") != current.get(key, "<absent>"):
            diffs.append((key, recorded.get(key, "<absent>"), current.get(key, "<absent>")))
    return diffs


def mismatch_message(run_dir: str, diffs: list[tuple[str, Any, Any]], finished: bool) -> str:
    """The one-paragraph error for a run folder that holds another experiment."""
    shown = "; ".join(f"{k.removeprefix('config.')}: recorded {r!r}, now {c!r}" for k, r, c in diffs[:8]) + (
        f"; and {len(diffs) - 8} more" if len(diffs) > 8 else ""
    )
    what = "a finished run" if finished else "an unfinished run"
    exp = os.path.basename(os.path.dirname(os.path.normpath(run_dir))) or "vit_b16_16shots"
    return (
        f"The run folder {run_dir} holds {what} of a different experiment ({os.path.join(run_dir, RUN_FILE)} "
        f"differs in {shown}). Its result is not reused and it is not resumed. Give this experiment its own "
        f"folder: with the runner scripts set EXP=<name> (e.g. EXP={exp}_variant) or another "
        "OUTPUT=...; with train.py pass another --output-dir. Delete the folder only if the old run is "
        "not wanted."
    )


def check_identity(run_dir: str, current: dict[str, Any], finished: bool = False) -> None:
    """Raise :class:`RunIdentityError` when ``run_dir`` records a different identity."""
    recorded = read_identity(run_dir)
    if recorded is None:
        return
    diffs = identity_differences(recorded, current)
    if diffs:
        raise RunIdentityError(mismatch_message(run_dir, diffs, finished))


def write_identity(run_dir: str, ident: dict[str, Any], inputs: Optional[dict[str, Any]] = None) -> None:
    """Record ``ident`` (and what it was computed from, ``inputs``) in ``run_dir/run.json`` (atomic)."""
    record: dict[str, Any] = {
        "format": 1,
        "digest": identity_digest(ident),
        "recorded_at": datetime.datetime.now().isoformat(timespec="seconds"),
        "fingerprint": ident,
    }
    if inputs is not None:
        record["inputs"] = inputs
    atomic_write_json(os.path.join(run_dir, RUN_FILE), record)
