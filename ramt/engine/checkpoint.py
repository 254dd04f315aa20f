"""Checkpoint files: ``<dir>/<name>/model.pth.tar-N`` + ``checkpoint`` pointer, and the resume policy.

Every write is atomic (temp file + rename). Loading uses ``weights_only=True``: checkpoints
hold tensors and plain values only. The resume state (``resume.pth.tar``, the previous one kept
as ``resume.pth.tar.prev``) is written on the cadence of :class:`ResumeCadence` and read back with
a fallback for damaged files (docs/RUNS.md, "Resume state").
"""

from __future__ import annotations

import os
import pickle
import re
import time
from collections.abc import Sequence
from typing import Optional

import torch

from ramt.utils.io import atomic_torch_save, atomic_write_text, mkdir_if_missing

POINTER = "checkpoint"
RESUME_FILE = "resume.pth.tar"
#: Suffix of the previous resume state, kept as the fallback for a damaged latest one.
PREVIOUS_SUFFIX = ".prev"
#: With ``TRAIN.CHECKPOINT_FREQ 0``, an epoch's resume state is skipped when the previous save
#: cost more than this fraction of the time since it (and ``TRAIN.RESUME_EVERY_S`` has not passed).
RESUME_MAX_OVERHEAD = 0.05


def save_checkpoint(state: dict, save_dir: str, model_name: str = "", is_best: bool = False) -> str:
    """Save ``state`` as ``save_dir/model.pth.tar-<epoch>`` (or ``model_name``) and update the pointer.

    The pointer tracks regular checkpoints only; ``model-best.pth.tar`` never redirects it.
    """
    mkdir_if_missing(save_dir)
    if is_best:
        fpath = os.path.join(save_dir, "model-best.pth.tar")
        atomic_torch_save(state, fpath)
        print(f'Best checkpoint saved to "{fpath}"')
        return fpath
    name = model_name or f"model.pth.tar-{state['epoch']}"
    fpath = os.path.join(save_dir, name)
    atomic_torch_save(state, fpath)
    print(f"Checkpoint saved to {fpath}")
    atomic_write_text(os.path.join(save_dir, POINTER), os.path.basename(fpath) + "\n")
    return fpath


class CheckpointError(ValueError):
    """A checkpoint file that cannot (or must not) be loaded: corrupt, foreign or pickled objects."""


def load_checkpoint(fpath: str) -> dict:
    if not os.path.isfile(fpath):
        raise FileNotFoundError(
            f'No checkpoint at "{fpath}". Check --model-dir/--load-epoch (the run folder must contain '
            "<name>/model.pth.tar-<epoch>) or train the model first."
        )
    try:
        return torch.load(fpath, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        found = re.search(r"Unsupported global: GLOBAL (\S+)", str(e))
        if found is None and "Unsupported class" not in str(e):  # damaged, not pickled objects
            detail = re.search(r"WeightsUnpickler error:\s*(\S[^\n]*)", str(e))
            raise CheckpointError(
                f'Cannot load checkpoint "{fpath}": {detail.group(1) if detail else _first_line(e)}. The file '
                "is corrupt or not a checkpoint of this suite."
            ) from None
        what = f" (it names the Python object {found.group(1)})" if found else ""
        raise CheckpointError(
            f'Refusing to load "{fpath}": it holds pickled Python objects{what}, and loading those can run '
            "arbitrary code. This suite's checkpoints hold tensors and plain values only. Fix: point at a "
            "checkpoint written by this suite (train the run again), or convert the file to a plain state dict."
        ) from None
    except Exception as e:  # corrupt or foreign file
        raise CheckpointError(
            f'Cannot load checkpoint "{fpath}": {_first_line(e)}. The file is corrupt or not a checkpoint of '
            "this suite."
        ) from e


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def pointed_checkpoint(model_dir: str) -> Optional[str]:
    """The file named in ``model_dir/checkpoint``, or None."""
    pointer = os.path.join(model_dir, POINTER)
    if not os.path.isfile(pointer):
        return None
    with open(pointer) as f:
        name = f.readline().strip()
    path = os.path.join(model_dir, name)
    return path if name and os.path.isfile(path) else None


def remove_if_exists(path: str) -> None:
    if os.path.exists(path):
        os.remove(path)


# --------------------------------------------------------------------------- resume state


class ResumeCadence:
    """When an epoch end saves the resume state.

    ``TRAIN.CHECKPOINT_FREQ N > 0``: every N epochs. ``0`` (the default) is automatic: every epoch
    end, except that an expensive save (over :data:`RESUME_MAX_OVERHEAD` of the time since the
    last one) waits until ``TRAIN.RESUME_EVERY_S`` seconds have passed; ``RESUME_EVERY_S`` < 0
    turns the automatic saves off.
    """

    def __init__(self) -> None:
        self.saved_at: Optional[float] = None
        self.save_cost = 0.0

    def due(self, epoch: int, checkpoint_freq: int, every_s: float) -> bool:
        """Whether the end of ``epoch`` (0-based, not the last one) saves the resume state."""
        if checkpoint_freq > 0:
            return (epoch + 1) % checkpoint_freq == 0
        if every_s < 0:
            return False
        if self.saved_at is None:
            return True
        since = time.monotonic() - self.saved_at
        return since >= every_s or self.save_cost <= RESUME_MAX_OVERHEAD * since

    def saved(self, started: float) -> None:
        """Note a save that began at ``started`` (``time.monotonic()``) and has just ended."""
        self.saved_at = time.monotonic()
        self.save_cost = self.saved_at - started


def write_resume_state(state: dict, directory: str) -> str:
    """Write ``state`` as ``directory/resume.pth.tar``, keeping the previous one as ``.prev``."""
    path = os.path.join(directory, RESUME_FILE)
    if os.path.isfile(path):
        os.replace(path, path + PREVIOUS_SUFFIX)
    atomic_torch_save(state, path)
    return path


def has_resume_state(directory: str) -> bool:
    return any(os.path.isfile(os.path.join(directory, RESUME_FILE + s)) for s in ("", PREVIOUS_SUFFIX))


def read_resume_state(directory: str, names: Sequence[str]) -> Optional[dict]:
    """The newest readable resume state holding ``names`` (latest, else the previous one).

    A damaged file (truncated, foreign) is skipped with a warning naming it: it never blocks a re-run.
    """
    latest = os.path.join(directory, RESUME_FILE)
    for path in (latest, latest + PREVIOUS_SUFFIX):
        if not os.path.isfile(path):
            continue
        try:
            state = load_checkpoint(path)
            if not all(n in state["models"] for n in names) or "rng" not in state:
                raise ValueError(f"it lacks the state of {list(names)} or the RNG state")
            int(state["epoch"])
        except Exception as e:  # truncated, foreign or damaged: never block the re-run
            print(
                f"Warning: ignoring the damaged resume state {path} ({type(e).__name__}: {e}); "
                "falling back to the previous resume state, else to a fresh start."
            )
            continue
        print(f'Loading checkpoint from "{path}"')
        return state
    return None


def remove_resume_state(directory: str) -> None:
    """Remove the resume state and its previous copy (the run has finished)."""
    for suffix in ("", PREVIOUS_SUFFIX):
        remove_if_exists(os.path.join(directory, RESUME_FILE + suffix))
