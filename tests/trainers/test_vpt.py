"""VPT-deep: prompt insertion through hooks equals the written-out algorithm; only the prompts train."""

import pytest
import torch

from ramt.clip import load_clip
from ramt.clip.visual_prompts import VisualPromptLearner, inserted_prompts
from tests.fixtures.trainer_fixtures import build, method_cfg, snapshot


def reference_forward(visual, prompts, x):
    """MaPLe's VPT forward written out over open_clip's modules (appended, replaced per layer)."""
    n = prompts[0].shape[0]
    t = visual.conv1(x).flatten(2).permute(0, 2, 1)
    cls = visual.class_embedding.expand(t.shape[0], 1, -1)
    t = torch.cat([cls, t], dim=1) + visual.positional_embedding
    t = torch.cat([t, prompts[0].expand(t.shape[0], -1, -1)], dim=1)
    t = visual.ln_pre(t)
    for i, block in enumerate(visual.transformer.resblocks):
        if 0 < i < len(prompts):
            t = torch.cat([t[:, :-n], prompts[i].expand(t.shape[0], -1, -1)], dim=1)
        t = block(t)
    return visual.ln_post(t[:, 0]) @ visual.proj


@pytest.mark.parametrize("depth", [1, 2])
def test_inserted_prompts_match_the_algorithm(depth):
    visual = load_clip("tiny").visual
    torch.manual_seed(0)
    learner = VisualPromptLearner(3, visual.conv1.weight.shape[0], depth)
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        plain = visual(x)
        with inserted_prompts(visual, learner()):
            prompted = visual(x)
        ref = reference_forward(visual, learner(), x)
        after = visual(x)
    assert torch.allclose(prompted, ref, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(prompted, plain, atol=1e-4)
    assert torch.equal(after, plain)  # hooks removed after the block


def test_deep_prompts_replace_each_layer():
    """With depth 2 the second prompt set changes the output (it is inserted, not ignored)."""
    visual = load_clip("tiny").visual
    torch.manual_seed(0)
    learner = VisualPromptLearner(2, visual.conv1.weight.shape[0], 2)
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad(), inserted_prompts(visual, learner()):
        a = visual(x)
        learner.ctx[1].add_(torch.randn_like(learner.ctx[1]))  # not a constant: LayerNorm removes that
        b = visual(x)
    assert not torch.allclose(a, b, atol=1e-4)


def test_vpt_trains_only_the_prompts(tmp_path, data_root):
    cfg = method_cfg("VPT", data_root, tmp_path / "o")
    trainer = build(cfg)
    pl = trainer.prompt_learner
    assert pl.depth == 2 and pl.n_ctx == 8  # depth 12 clamped to tiny's 2 blocks
    assert trainer.get_model_names() == ["prompt_learner"]
    assert all(not p.requires_grad for p in trainer.image_encoder.parameters())
    enc0, pl0 = snapshot(trainer.image_encoder), snapshot(pl)
    trainer.train()
    for k, v in snapshot(trainer.image_encoder).items():
        assert torch.equal(v, enc0[k]), k
    assert all(not torch.equal(v, pl0[k]) for k, v in snapshot(pl).items())
    assert 0.0 <= trainer.last_results["accuracy"] <= 100.0


def test_vpt_rejects_bad_precision(tmp_path, data_root):
    with pytest.raises(ValueError, match="TRAINER.VPT.PREC"):
        build(method_cfg("VPT", data_root, tmp_path / "o", **{"TRAINER.VPT.PREC": "bf8"}))
