"""The suite's VPT-deep against MaPLe's trainers/vpt.py, recorded on the tiny CLIP
(benchmarks/faithfulness/record_vpt.py; tests/fixtures/faithfulness/vpt_deep.npz names the upstream commit)."""

import os

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from benchmarks.faithfulness.record_vpt import upsampled
from tests.fixtures.trainer_fixtures import build, method_cfg

FIXTURE = os.path.join(os.path.dirname(os.path.dirname(__file__)), "fixtures", "faithfulness", "vpt_deep.npz")


@pytest.fixture
def recorded():
    return np.load(FIXTURE)


def vpt_trainer(fx, root, out):
    opts = {
        "TRAINER.VPT.N_CTX_VISION": int(fx["n_ctx"]),
        "TRAINER.VPT.PROMPT_DEPTH_VISION": int(fx["depth"]),
        "TRAINER.VPT.TEMPLATE": str(fx["template"]),
        "OPTIM.LR": float(fx["lr"]),
        "OPTIM.WARMUP_EPOCH": -1,  # the recorded step is at the base learning rate
    }
    trainer = build(method_cfg("VPT", root, out, **opts))
    assert tuple(trainer.classnames) == tuple(fx["classnames"])
    with torch.no_grad():
        for p, v in zip(trainer.prompt_learner.ctx, fx["prompts_init"]):
            p.copy_(torch.from_numpy(v))
    return trainer


def test_fixture_names_its_upstream_commit(recorded):
    assert str(recorded["upstream_repo"]) == "muzairkhattak/multimodal-prompt-learning"
    assert len(str(recorded["upstream_commit"])) == 40


def test_logits_and_one_step_match_maple(tmp_path, data_root, recorded):
    fx = recorded
    trainer = vpt_trainer(fx, data_root, tmp_path / "o")
    images = upsampled(torch.from_numpy(fx["images_lowres"]))
    labels = torch.from_numpy(fx["labels"])
    expected = torch.from_numpy(fx["logits"])
    with torch.no_grad():
        logits = trainer.logits_of(images, trainer.prompts())
    torch.testing.assert_close(logits, expected, rtol=1e-5, atol=1e-5 * float(expected.abs().max()))

    init = torch.from_numpy(fx["prompts_init"])
    loss = F.cross_entropy(trainer.logits_of(images, trainer.prompts()), labels)
    assert float(loss.detach()) == pytest.approx(float(fx["loss"]), rel=1e-5)
    trainer.model_backward_and_update(loss)
    step = torch.stack([p.detach() for p in trainer.prompt_learner.ctx]) - init
    expected_step = torch.from_numpy(fx["prompts_step"]) - init
    assert float(expected_step.abs().max()) > 0
    torch.testing.assert_close(step, expected_step, rtol=1e-4, atol=1e-4 * float(expected_step.abs().max()))
