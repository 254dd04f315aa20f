"""The R-AMT trainer on the tiny CLIP: step 0 = zero-shot, what trains, checkpoints, resume."""

import os

import pytest
import torch

from ramt.registry import TRAINER_REGISTRY
from tests.fixtures.trainer_fixtures import build, method_cfg


def ramt_cfg(root, out, shots=2, epochs=2, **opts):
    opts = {"OPTIM.MAX_EPOCH": epochs, "OPTIM.LR": 0.003, "VERBOSE": True, **opts}
    return method_cfg("RAMT", root, out, shots=shots, **opts)


def test_masktuning_alias_registered():
    assert issubclass(TRAINER_REGISTRY.get("MaskTuning"), TRAINER_REGISTRY.get("RAMT"))


def test_step0_equals_zeroshot_logits(tmp_path, data_root):
    trainer = build(ramt_cfg(data_root, tmp_path / "o"))
    images = torch.randn(3, 3, 224, 224)
    with torch.no_grad():
        student = trainer.head(trainer.tuner.student(images))
        teacher = trainer.head(trainer.clip_model.visual(images))
        trainer.before_test("test")
        folded = trainer.model_inference(images)
    assert torch.equal(student, teacher)
    assert torch.equal(folded, teacher)
    assert trainer.tuner.sparsity()["zeros"] == 0


@pytest.mark.parametrize("gdr", [True, False])
def test_only_masks_train_and_clip_is_untouched(tmp_path, data_root, gdr):
    cfg = ramt_cfg(data_root, tmp_path / "o", **{"MASK.GDR": gdr})
    trainer = build(cfg)
    before = {k: v.clone() for k, v in trainer.clip_model.state_dict().items()}
    flat0 = trainer.tuner.mask_set.flat.detach().clone()
    opt = trainer._optims["shared"]
    assert [p for g in opt.param_groups for p in g["params"]] == [trainer.tuner.mask_set.flat]
    trainer.train()
    after = trainer.clip_model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    # AMT (GDR off) must train too: the real-valued masks moved.
    assert not torch.equal(flat0, trainer.tuner.mask_set.flat.detach())
    log_ok = (tmp_path / "o" / "results.json").is_file()
    assert log_ok


def test_checkpoint_is_bitpacked_and_round_trips(tmp_path, data_root):
    cfg = ramt_cfg(data_root, tmp_path / "o", **{"OPTIM.LR": 0.01})
    trainer = build(cfg)
    trainer.train()
    binary = trainer.tuner.mask_set.binary_flat().clone()
    ckpt = tmp_path / "o" / "shared" / "model.pth.tar-2"
    assert ckpt.is_file()
    assert (tmp_path / "o" / "shared" / "checkpoint").read_text().strip() == "model.pth.tar-2"
    state = torch.load(ckpt, weights_only=True)
    assert state["optimizer"] is None and state["epoch"] == 2
    nbytes = sum(m["bits"].numel() for m in state["state_dict"]["masks"])
    assert nbytes == (trainer.tuner.mask_set.num_entries + 7) // 8 or nbytes == sum(
        (n + 7) // 8 for n in trainer.tuner.mask_set.numels
    )
    assert os.path.getsize(ckpt) < 2 * nbytes + 20_000  # bits + small metadata, no Adam state

    cfg2 = ramt_cfg(data_root, tmp_path / "eval")
    fresh = build(cfg2)
    fresh.load_model(str(tmp_path / "o"))
    assert torch.equal(fresh.tuner.mask_set.binary_flat(), binary)


def test_sparsity_block_and_json(tmp_path, data_root):
    trainer = build(ramt_cfg(data_root, tmp_path / "o", **{"OPTIM.LR": 0.01}))
    trainer.train()
    import json

    rep = json.loads((tmp_path / "o" / "sparsity.json").read_text())
    res = json.loads((tmp_path / "o" / "results.json").read_text())
    assert res["method"] == "R-AMT" and res["sparsity"]["zeros"] == rep["zeros"]
    assert rep["total"] == trainer.tuner.mask_set.num_entries
    assert rep["sparsity"] == pytest.approx(100 * rep["zeros"] / rep["total"])


def test_resume_matches_uninterrupted_run(tmp_path, data_root):
    """Stop after epoch 2 of 4 (resume state saved), resume, and compare with a straight run."""
    straight = build(ramt_cfg(data_root, tmp_path / "a", epochs=4, **{"OPTIM.LR": 0.01}))
    straight.train()

    cfg_b = ramt_cfg(data_root, tmp_path / "b", epochs=4, **{"OPTIM.LR": 0.01, "TRAIN.CHECKPOINT_FREQ": 1})
    first = build(cfg_b)

    class Stop(Exception):
        pass

    orig_after_epoch = first.after_epoch

    def after_epoch_then_die():
        orig_after_epoch()
        if first.epoch == 1:
            raise Stop

    first.after_epoch = after_epoch_then_die
    with pytest.raises(Stop):
        first.train()
    assert (tmp_path / "b" / "resume.pth.tar").is_file()
    assert not (tmp_path / "b" / "results.json").exists()

    torch.manual_seed(999)  # the resumed run must restore the RNG itself
    second = build(cfg_b)
    second.train()
    assert torch.equal(second.tuner.mask_set.flat, straight.tuner.mask_set.flat)
    assert second.last_results["accuracy"] == straight.last_results["accuracy"]
    assert not (tmp_path / "b" / "resume.pth.tar").exists()


def test_nan_loss_stops_with_epoch_and_batch(tmp_path, data_root, monkeypatch):
    trainer = build(ramt_cfg(data_root, tmp_path / "o"))
    orig = trainer.head

    def nan_head(features):
        return orig(features) * float("nan")

    monkeypatch.setattr(trainer, "head", nan_head)
    with pytest.raises(FloatingPointError, match=r"epoch 1, batch 1"):
        trainer.train()
    assert not (tmp_path / "o" / "results.json").exists()
    assert not (tmp_path / "o" / "shared").exists()


def test_gdr_lambda_policy_logged(tmp_path, data_root, capsys):
    build(ramt_cfg(data_root, tmp_path / "o", shots=16))
    out = capsys.readouterr().out
    assert "lambda = 0.3" in out and "16 shots, Caltech101" in out
    build(ramt_cfg(data_root, tmp_path / "o2", shots=16, **{"MASK.GDR_LAMBDA": 0.7}))
    assert "lambda = 0.7" in capsys.readouterr().out
