"""CoCoOp on the tiny CLIP: the authors' numbers, batched per-image prompts, what trains, checkpoints."""

import pytest
import torch

import ramt.trainers  # noqa: F401  (registers the trainers)
from ramt.clip import normalize
from tests.fixtures.faithfulness import assert_close_rel, load_fixture, round_like_upstream_
from tests.fixtures.trainer_fixtures import build, method_cfg

CFG = "vit_b16_c4_ep10_batch1_ctxv1"


def cocoop(tmp_path, data_root, **opts):
    return build(method_cfg("CoCoOp", data_root, tmp_path / "o", config=CFG, **opts))


def fixed_images(meta):
    g = torch.Generator().manual_seed(meta["image_seed"])
    return torch.randn(meta["n_images"], 3, 224, 224, generator=g)


def load_initial(trainer, arrays):
    state = {k[len("init/") :]: v.float() for k, v in arrays.items() if k.startswith("init/")}
    missing, unexpected = trainer.prompt_learner.load_state_dict(state, strict=False)
    assert not unexpected and set(missing) == {"token_prefix", "token_suffix"}


def test_matches_the_authors_code(tmp_path, data_root):
    """Logits within 1e-5 relative, one SGD step (gradients, parameters) within 1e-4 of CoOp's cocoop.py."""
    arrays, meta = load_fixture("cocoop")
    assert len(meta["upstream_commit"]) == 40
    trainer = cocoop(tmp_path, data_root, **{"OPTIM.WARMUP_EPOCH": 0})  # the recorded step used lr 0.002
    assert trainer.classnames == meta["classnames"]
    round_like_upstream_(trainer.clip_model, meta)
    load_initial(trainer, arrays)
    images = fixed_images(meta)
    trainer.set_model_mode("eval")
    with torch.no_grad():
        logits = trainer.conditional_logits(trainer.encode_image(images))
    assert_close_rel(logits, arrays["logits"], 1e-5, "logits")

    trainer.set_model_mode("train")
    trainer.batch_idx, trainer.num_batches = 0, 2
    i = meta["step_image"]
    out = trainer.forward_backward({"img": images[i : i + 1], "label": arrays["label"].long()})
    assert out["loss"] == pytest.approx(arrays["loss"].item(), rel=1e-5)
    for name, p in trainer.prompt_learner.named_parameters():
        assert_close_rel(p.grad, arrays[f"grad/{name}"], 1e-4, f"grad {name}")
        assert_close_rel(p, arrays[f"after/{name}"], 1e-4, f"after {name}")
    moved = (trainer.prompt_learner.ctx.detach().double() - arrays["init/ctx"]).abs().max()
    assert moved > 1e-4  # the step is large enough for the comparison to mean something


def test_batched_text_encoding_equals_per_image_loop(tmp_path, data_root):
    trainer = cocoop(tmp_path, data_root)
    torch.manual_seed(0)
    with torch.no_grad():
        for p in trainer.prompt_learner.meta_net.parameters():
            p.normal_(std=0.5)  # a visible per-image bias
        imf = normalize(trainer.encode_image(torch.randn(3, 3, 224, 224)).float())
        calls = []
        encode = trainer.encode_prompts
        trainer.encode_prompts = lambda p, t: (calls.append(p.shape[0]), encode(p, t))[1]
        batched = trainer.text_features_per_image(imf)
        assert calls == [9]  # 3 images x 3 classes in one text-encoder call
        looped = torch.stack([trainer.text_features_per_image(imf[i : i + 1])[0] for i in range(3)])
    assert batched.shape == (3, 3, looped.shape[-1])
    torch.testing.assert_close(batched, looped, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(batched[0], batched[1], atol=1e-4)  # prompts differ per image


def test_eval_groups_respect_max_prompts(tmp_path, data_root):
    trainer = cocoop(tmp_path, data_root, **{"TRAINER.COCOOP.MAX_PROMPTS": 6})  # 2 images of 3 classes
    calls = []
    original = trainer.text_features_per_image
    trainer.text_features_per_image = lambda f: (calls.append(f.shape[0]), original(f))[1]
    feats = torch.randn(5, trainer.prompt_learner.meta_net.linear1.in_features)
    with torch.no_grad():
        grouped = trainer.head(feats)
    assert calls == [2, 2, 1]
    with torch.no_grad():
        whole = trainer.conditional_logits(feats)
    torch.testing.assert_close(grouped, whole, rtol=1e-5, atol=1e-5)


def test_only_prompt_learner_trains_and_checkpoint_reloads(tmp_path, data_root):
    trainer = cocoop(tmp_path, data_root, **{"OPTIM.MAX_EPOCH": 1})
    pl = trainer.prompt_learner
    assert pl.n_ctx == 4 and pl.prompt_prefix == "a photo of a"
    optim = trainer._optims["prompt_learner"]
    trained = {id(p) for g in optim.param_groups for p in g["params"]}
    assert trained == {id(p) for p in pl.parameters()} and len(trained) == 5  # ctx + 2 linear layers
    assert not any(p.requires_grad for p in trainer.clip_model.parameters())
    trainer.train()
    other = cocoop(tmp_path / "b", data_root)
    other.load_model(str(tmp_path / "o"), epoch=1)
    for (name, a), b in zip(pl.state_dict().items(), other.prompt_learner.state_dict().values()):
        assert torch.equal(a, b), name


def test_bad_precision_rejected(tmp_path, data_root):
    with pytest.raises(ValueError, match="TRAINER.COCOOP.PREC"):
        cocoop(tmp_path, data_root, **{"TRAINER.COCOOP.PREC": "bf16"})
