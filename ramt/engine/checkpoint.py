"""Checkpoint files: ``<dir>/<name>/model.pth.tar-N`` + ``checkpoint`` pointer, resume state.

Every write is atomic (temp file + rename). Loading uses ``weights_only=True``: checkpoints
hold tensors and plain values only.
"""

from __future__ import annotations

import os
import pickle
import re
from typing import Optional

import torch

from ramt.utils.io import atomic_torch_save, atomic_write_text, mkdir_if_missing

POINTER = "checkpoint"
RESUME_FILE = "resume.pth.tar"
#: Suffix of the previous resume state, kept as the fallback for a damaged latest one.
PREVIOUS_SUFFIX = ".prev"


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
