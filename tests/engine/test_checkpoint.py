import os

import pytest
import torch

from ramt.engine.checkpoint import CheckpointError, load_checkpoint, pointed_checkpoint, save_checkpoint
from ramt.utils.io import atomic_torch_save


def test_pointer_tracks_regular_checkpoints_only(tmp_path):
    d = tmp_path / "prompt_learner"
    save_checkpoint({"state_dict": {"w": torch.ones(2)}, "epoch": 5, "val_result": None}, str(d))
    save_checkpoint(
        {"state_dict": {"w": torch.zeros(2)}, "epoch": 3, "val_result": 1.0}, str(d), is_best=True
    )
    assert (d / "checkpoint").read_text().strip() == "model.pth.tar-5"
    assert pointed_checkpoint(str(d)) == str(d / "model.pth.tar-5")
    state = load_checkpoint(str(d / "model.pth.tar-5"))
    assert state["epoch"] == 5 and state["val_result"] is None
    assert torch.equal(state["state_dict"]["w"], torch.ones(2))


def test_missing_and_corrupt_checkpoints_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="model.pth.tar-9"):
        load_checkpoint(str(tmp_path / "model.pth.tar-9"))
    bad = tmp_path / "model.pth.tar-1"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="(?s)model.pth.tar-1.*corrupt"):
        load_checkpoint(str(bad))


def test_atomic_save_leaves_nothing_on_failure(tmp_path):
    class Boom:
        def __reduce__(self):
            raise RuntimeError("killed mid-write")

    target = tmp_path / "model.pth.tar-1"
    with pytest.raises(RuntimeError):
        atomic_torch_save({"x": Boom()}, str(target))
    assert os.listdir(tmp_path) == []
