"""UPT: shapes, which parameters train, and one shared prompt set feeding both encoders."""

import pytest
import torch

from ramt.trainers.upt import UnifiedPrompts
from tests.fixtures.trainer_fixtures import build, method_cfg, snapshot

FAST = {
    "TRAINER.UPT.DIM": 64,
    "TRAINER.UPT.HEADS": 2,
    "TRAINER.UPT.N_CTX_TEXT": 4,
    "TRAINER.UPT.N_CTX_VISION": 3,
}


@pytest.fixture
def upt(tmp_path, data_root):
    return build(method_cfg("UPT", data_root, tmp_path / "o", **FAST))


def test_unified_prompt_shapes():
    torch.manual_seed(0)
    up = UnifiedPrompts(4, 3, 64, 2, 1, text_width=128, vision_width=96)
    text, visual = up()
    assert up.shared.shape == (7, 64) and len(up.transformer.layers) == 1
    assert text.shape == (4, 128) and visual.shape == (3, 96)
    with pytest.raises(ValueError, match="multiple of TRAINER.UPT.HEADS"):
        UnifiedPrompts(4, 3, 63, 2, 1, 128, 96)


def test_upt_trains_only_the_unified_prompts(upt):
    trainer = upt
    assert trainer.get_model_names() == ["prompt_learner"]
    names = {n.split(".")[0] for n, p in trainer.prompt_learner.named_parameters() if p.requires_grad}
    assert names == {"shared", "transformer", "text_proj", "visual_proj"}
    assert not any(p.requires_grad for p in trainer.clip_model.parameters())
    assert not any(p.requires_grad for p in trainer.image_encoder.parameters())
    visual, text = trainer.prompts()
    assert visual[0].shape == (3, 128) and text.shape == (3, 256)  # 3 classes, tiny's embed dim
    clip0, pl0 = snapshot(trainer.clip_model), snapshot(trainer.prompt_learner)
    trainer.train()
    assert all(torch.equal(v, clip0[k]) for k, v in snapshot(trainer.clip_model).items())
    changed = {
        k.split(".")[0] for k, v in snapshot(trainer.prompt_learner).items() if not torch.equal(v, pl0[k])
    }
    assert changed == {"shared", "transformer", "text_proj", "visual_proj"}


def test_shared_prompts_feed_both_encoders(upt):
    """Gradient reaches the shared set from the text branch alone and from the image branch alone."""
    trainer, pl = upt, upt.prompt_learner
    images = torch.randn(2, 3, 224, 224)
    text_ctx, visual = pl()
    text_only = trainer.text_features_of(text_ctx).square().sum()
    image_only = trainer.encode_image(images, [visual]).square().sum()
    params = [pl.shared, pl.text_proj.weight, pl.visual_proj.weight]
    g_text = torch.autograd.grad(text_only, params, allow_unused=True, retain_graph=True)
    g_image = torch.autograd.grad(image_only, params, allow_unused=True)
    assert g_text[0].abs().sum() > 0 and g_image[0].abs().sum() > 0
    assert g_text[2] is None and g_image[1] is None  # each projection serves one branch
    # Both branches read every shared token (through the transformer's attention).
    assert (g_text[0].abs().sum(1) > 0).all() and (g_image[0].abs().sum(1) > 0).all()
