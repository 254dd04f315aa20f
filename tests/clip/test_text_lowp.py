"""The bf16-weight text tower gives CoOp the same features and context gradients as autocast over fp32."""

import pytest
import torch

from ramt.clip import tokenize
from ramt.clip.text import encode_prompt_embeddings
from ramt.clip.text_lowp import LowPrecisionTextTower
from ramt.trainers.coop import PromptLearner

NAMES = ["cat", "big red car", "ox", "a rather long class name with words"]


@pytest.mark.parametrize("truncate", [True, False])
def test_bf16_tower_matches_autocast_over_fp32_weights(tiny_clip, truncate):
    pl = PromptLearner(tiny_clip, NAMES, n_ctx=4)
    pl2 = PromptLearner(tiny_clip, NAMES, n_ctx=4)
    pl2.load_state_dict(pl.state_dict())
    tower = LowPrecisionTextTower(tiny_clip, torch.bfloat16)
    weights = [p for p in tower.transformer.parameters() if p.dim() == 2]
    assert weights and all(p.dtype == torch.bfloat16 for p in weights)
    assert tower.ln_final.weight.dtype == torch.float32  # layer norms stay fp32
    with torch.autocast("cpu", dtype=torch.bfloat16):
        ref = encode_prompt_embeddings(tiny_clip, pl(), pl.tokenized_prompts, truncate=truncate)
        out = tower(pl2(), pl2.tokenized_prompts, truncate=truncate)
    assert torch.equal(ref, out)
    ref.float().pow(2).sum().backward()
    out.float().pow(2).sum().backward()
    assert pl.ctx.grad is not None and pl.ctx.grad.abs().sum() > 0
    assert torch.equal(pl.ctx.grad, pl2.ctx.grad)
    # the source model is untouched (fp32) and the tower is frozen
    assert all(p.dtype == torch.float32 for p in tiny_clip.transformer.parameters())
    assert not any(p.requires_grad for p in tower.parameters())


def test_tower_features_track_fp32_features(tiny_clip):
    tokens = tokenize([f"a photo of a {n}." for n in NAMES])
    emb = tiny_clip.token_embedding(tokens)
    with torch.no_grad():
        fp32 = encode_prompt_embeddings(tiny_clip, emb, tokens)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = LowPrecisionTextTower(tiny_clip)(emb, tokens).float()
    cos = torch.nn.functional.cosine_similarity(fp32, low, dim=-1)
    assert cos.min() > 0.99
