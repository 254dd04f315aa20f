"""Resume state: saved by default, latest + previous kept, damaged files fall back (issue 12, items 6-7)."""

import os

import torch
import torch.nn as nn

from ramt.config import get_cfg_default
from ramt.engine.checkpoint import PREVIOUS_SUFFIX, RESUME_FILE, RESUME_MAX_OVERHEAD, ResumeCadence
from ramt.engine.trainer import TrainerBase


def make_trainer(lr=0.1):
    t = TrainerBase()
    model = nn.Linear(3, 2)
    t.register_model("m", model, torch.optim.SGD(model.parameters(), lr=lr))
    t.max_epoch = 10
    t.cfg = get_cfg_default()
    return t


def test_latest_and_previous_are_kept(tmp_path):
    t = make_trainer()
    for epoch in range(3):
        t.save_resume_state(epoch, str(tmp_path))
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [RESUME_FILE, RESUME_FILE + PREVIOUS_SUFFIX]
    assert torch.load(tmp_path / (RESUME_FILE + PREVIOUS_SUFFIX), weights_only=True)["epoch"] == 2
    assert make_trainer().resume_model_if_exist(str(tmp_path)) == 3


def test_truncated_resume_file_falls_back_to_the_previous_one(tmp_path, capsys):
    t = make_trainer()
    t.save_resume_state(0, str(tmp_path))
    weights_epoch1 = {k: v.clone() for k, v in t._models["m"].state_dict().items()}
    with torch.no_grad():
        t._models["m"].weight.add_(1.0)
    t.save_resume_state(1, str(tmp_path))
    latest = tmp_path / RESUME_FILE
    latest.write_bytes(latest.read_bytes()[:100])  # truncated, as by a full disk or a copy

    fresh = make_trainer()
    assert fresh.resume_model_if_exist(str(tmp_path)) == 1
    out = capsys.readouterr().out
    assert f"damaged resume state {latest}" in out
    assert torch.equal(fresh._models["m"].weight, weights_epoch1["weight"])

    prev = tmp_path / (RESUME_FILE + PREVIOUS_SUFFIX)
    prev.write_bytes(b"garbage")
    assert make_trainer().resume_model_if_exist(str(tmp_path)) == 0  # fresh start, never blocked
    out = capsys.readouterr().out
    assert str(prev) in out and "train from scratch" in out


def test_automatic_cadence(monkeypatch):
    cfg = make_trainer().cfg
    assert cfg.TRAIN.CHECKPOINT_FREQ == 0  # the default: automatic
    every = float(cfg.TRAIN.RESUME_EVERY_S)
    cadence = ResumeCadence()
    assert cadence.due(0, 0, every)  # first epoch end: always
    clock = [100.0]
    monkeypatch.setattr("ramt.engine.checkpoint.time.monotonic", lambda: clock[0])
    cadence.saved_at, cadence.save_cost = 100.0, 0.01
    clock[0] = 101.0
    assert cadence.due(1, 0, every)  # cheap: every epoch
    cadence.save_cost = 10.0
    assert not cadence.due(1, 0, every)  # expensive: waits
    clock[0] = 100.0 + 10.0 / RESUME_MAX_OVERHEAD
    assert cadence.due(1, 0, every)  # overhead back under the bound
    cadence.save_cost = 1000.0
    clock[0] = 100.0 + every
    assert cadence.due(1, 0, every)  # at least every TRAIN.RESUME_EVERY_S
    assert not cadence.due(1, 0, -1)  # TRAIN.RESUME_EVERY_S -1: off


def test_fixed_frequency_and_the_trainer_uses_the_cadence(tmp_path):
    """TRAIN.CHECKPOINT_FREQ N saves every N epochs; a save is noted by the trainer's cadence."""
    cadence = ResumeCadence()
    assert [e for e in range(6) if cadence.due(e, 2, 300.0)] == [1, 3, 5]
    t = make_trainer()
    assert t.resume_cadence.saved_at is None
    t.save_resume_state(0, str(tmp_path))
    assert t.resume_cadence.saved_at is not None and t.resume_saved_epoch == 1


def test_finished_run_removes_both_resume_files(tmp_path, data_root):
    from tests.fixtures.trainer_fixtures import build, method_cfg

    out = tmp_path / "o"
    trainer = build(method_cfg("RAMT", data_root, out, **{"OPTIM.MAX_EPOCH": 2, "TEST.NO_TEST": True}))
    trainer.train()
    assert not any(os.path.exists(out / (RESUME_FILE + s)) for s in ("", PREVIOUS_SUFFIX))
