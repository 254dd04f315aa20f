"""ProGrad on the tiny CLIP: the projection, the template init, the authors' numbers, lambda per dataset."""

import pytest
import torch

import ramt.trainers  # noqa: F401  (registers the trainers)
from ramt.clip import tokenize
from ramt.config import get_cfg_default
from ramt.trainers.prograd import TemplatePromptLearner, prograd_gradient, prograd_lambda, prograd_template
from tests.fixtures.faithfulness import assert_close_rel, load_fixture, round_like_upstream_
from tests.fixtures.trainer_fixtures import build, method_cfg


# ------------------------------------------------------------------ the projection
def test_projection_removes_the_conflicting_component():
    g_kl = torch.tensor([[1.0, 0.0], [0.0, 0.0]])
    g_ce = torch.tensor([[-2.0, 3.0], [1.0, 0.0]])  # dot with g_kl < 0
    out = prograd_gradient(g_ce, g_kl, 1.0)
    torch.testing.assert_close(out, torch.tensor([[0.0, 3.0], [1.0, 0.0]]))
    assert torch.dot(out.flatten(), g_kl.flatten()) == 0
    half = prograd_gradient(g_ce, g_kl, 0.5)  # lambda scales the removed component
    torch.testing.assert_close(half, torch.tensor([[-1.0, 3.0], [1.0, 0.0]]))
    assert torch.equal(prograd_gradient(g_ce, g_kl, 0.0), g_ce)


def test_no_conflict_keeps_the_ce_gradient():
    g_kl = torch.tensor([1.0, 1.0])
    g_ce = torch.tensor([2.0, -1.0])  # dot = 1 > 0
    assert torch.equal(prograd_gradient(g_ce, g_kl, 1.0), g_ce)


def test_lambda_follows_the_authors_readme():
    cfg = get_cfg_default()
    for name, shots, lam in (
        ("EuroSAT", 16, 0.8),
        ("OxfordFlowers", 8, 0.8),
        ("EuroSAT", 4, 1.0),
        ("Caltech101", 16, 1.0),
    ):
        cfg.DATASET.NAME, cfg.DATASET.NUM_SHOTS = name, shots
        assert prograd_lambda(cfg) == lam, (name, shots)
    cfg.TRAINER.PROGRAD.LAMBDA = 0.3
    assert prograd_lambda(cfg) == 0.3


def test_templates_are_the_authors():
    assert prograd_template("OxfordPets") == "a type of pet, a photo of a {}."
    assert prograd_template("DescribableTextures") == "a texture of {}."
    assert prograd_template("Caltech101") == "a photo of a {}."


# ------------------------------------------------------------------ template init
def test_template_init_zeros_then_words(tiny_clip):
    pl = TemplatePromptLearner(tiny_clip, ["ox", "big car"], n_ctx=8, template="a photo of a {}.")
    assert pl.ctx.shape == (8, tiny_clip.token_embedding.weight.shape[1]) and pl.n_ctx == 8
    with torch.no_grad():
        words = tiny_clip.token_embedding(tokenize("a photo of a"))[0, 1:5]
        full = tiny_clip.token_embedding(tokenize("X X X X a photo of a big car."))[0]
        assert torch.equal(pl.ctx[:4], torch.zeros_like(pl.ctx[:4]))
        assert torch.equal(pl.ctx[4:], words)
        prompt = pl()[1]
    assert torch.equal(prompt[0], full[0]) and torch.equal(prompt[9:], full[9:])
    assert pl.prompt_prefix == "X X X X a photo of a"
    with pytest.raises(ValueError, match="N_CTX 2 is smaller than the 4 words"):
        TemplatePromptLearner(tiny_clip, ["ox"], n_ctx=2, template="a photo of a {}.")


# ------------------------------------------------------------------ the authors' numbers
def test_matches_the_authors_code(tmp_path, data_root):
    """Logits within 1e-5 relative, one projected SGD step within 1e-4 of Prompt-align's ProGrad."""
    arrays, meta = load_fixture("prograd")
    assert len(meta["upstream_commit"]) == 40 and arrays["raw_cosine"].item() < 0  # the projection ran
    cfg = method_cfg(
        "ProGrad",
        data_root,
        tmp_path / "o",
        **{"OPTIM.WARMUP_EPOCH": 0, "TRAINER.PROGRAD.LAMBDA": meta["settings"]["LAMBDA"]},
    )
    trainer = build(cfg)
    assert trainer.classnames == meta["classnames"] and cfg.DATASET.NAME == meta["dataset"]
    round_like_upstream_(trainer.clip_model, meta)
    trainer.build_extra(trainer.clip_model)  # the zero-shot text features of the rounded weights
    with torch.no_grad():
        trainer.prompt_learner.ctx.copy_(arrays["init/ctx"].float())
    g = torch.Generator().manual_seed(meta["image_seed"])
    images = torch.randn(meta["n_images"], 3, 224, 224, generator=g)
    with torch.no_grad():
        feats = trainer.encode_image(images)
        assert_close_rel(trainer.train_logits(feats), arrays["logits"], 1e-5, "logits")
        assert_close_rel(trainer.zero_shot_logits(feats), arrays["zs_logits"], 1e-5, "zero-shot logits")
    trainer.set_model_mode("train")
    trainer.batch_idx, trainer.num_batches = 0, 2
    out = trainer.forward_backward({"img": images, "label": arrays["labels"].long()})
    assert out["xe_loss"] == pytest.approx(arrays["xe_loss"].item(), rel=1e-5)
    assert out["kl_loss"] == pytest.approx(arrays["kl_loss"].item(), rel=1e-5)
    ctx = trainer.prompt_learner.ctx
    assert_close_rel(ctx.grad, arrays["grad/ctx"], 1e-4, "projected gradient")
    assert_close_rel(ctx, arrays["after/ctx"], 1e-4, "context after the step")


def test_trains_context_only_and_writes_results(tmp_path, data_root):
    import json

    trainer = build(method_cfg("ProGrad", data_root, tmp_path / "o", **{"OPTIM.MAX_EPOCH": 1}))
    before = trainer.prompt_learner.ctx.detach().clone()
    trainer.train()
    assert not torch.equal(trainer.prompt_learner.ctx.detach(), before)
    res = json.load(open(tmp_path / "o" / "results.json"))
    assert res["method"] == "ProGrad" and res["trainer"] == "ProGrad"
