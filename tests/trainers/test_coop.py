"""CoOp on the tiny CLIP: prompt assembly, what trains, text features once, checkpoints on new classes."""

import json
import os

import pytest
import torch

import ramt.trainers  # noqa: F401  (registers the trainers)
from ramt.clip import get_tokenizer, load_clip, tokenize
from ramt.policy import coop_config_name, coop_epochs
from ramt.trainers.coop import PromptLearner
from tests.fixtures.trainer_fixtures import ROOT, build, method_cfg, snapshot

# ------------------------------------------------------------------ prompt assembly
NAMES = ["class_a", "big red car", "ox"]


def _word_embedding(clip_model, word):
    (tok,) = get_tokenizer().encode(word)
    return clip_model.token_embedding.weight[tok].detach()


@pytest.mark.parametrize("position", ["end", "middle", "front"])
@pytest.mark.parametrize("csc", [False, True])
def test_prompt_assembly_matches_tokenised_prompts(tiny_clip, position, csc):
    n_ctx = 4
    pl = PromptLearner(tiny_clip, NAMES, n_ctx=n_ctx, csc=csc, position=position)
    words = ["cat", "dog", "fox"] if csc else ["x"] * 3
    with torch.no_grad():
        if csc:
            assert pl.ctx.shape == (len(NAMES), n_ctx, tiny_clip.token_embedding.weight.shape[1])
            for i, w in enumerate(words):
                pl.ctx[i] = _word_embedding(tiny_clip, w)
        else:
            assert pl.ctx.shape == (n_ctx, tiny_clip.token_embedding.weight.shape[1])
            pl.ctx[:] = _word_embedding(tiny_clip, "x")
        prompts = pl()
    half = n_ctx // 2
    for i, name in enumerate(NAMES):
        name = name.replace("_", " ")
        ctx = [words[i]] * n_ctx
        if position == "end":
            text = " ".join(ctx + [name]) + "."
        elif position == "middle":
            text = " ".join(ctx[:half] + [name] + ctx[half:]) + "."
        else:
            text = " ".join([name] + ctx) + "."
        tokens = tokenize(text)
        with torch.no_grad():
            expected = tiny_clip.token_embedding(tokens)[0]
        assert torch.equal(prompts[i], expected), (position, csc, name)
        # The EOT position (arg-max of the ids) is where the text tower pools.
        assert int(pl.tokenized_prompts[i].argmax()) == int(tokens[0].argmax())


def test_word_init_sets_context_length_and_vectors(tiny_clip):
    pl = PromptLearner(tiny_clip, NAMES, n_ctx=16, ctx_init="a photo of a")
    assert pl.n_ctx == 4 and pl.ctx.shape[0] == 4
    with torch.no_grad():
        emb = tiny_clip.token_embedding(tokenize("a photo of a"))[0, 1:5]
        assert torch.equal(pl.ctx, emb)
        assert torch.equal(
            pl()[0], tiny_clip.token_embedding(tokenize(f"a photo of a {NAMES[0].replace('_', ' ')}."))[0]
        )


def test_random_init_std(tiny_clip):
    torch.manual_seed(0)
    pl = PromptLearner(tiny_clip, ["a"] * 50, n_ctx=16, csc=True)
    assert abs(pl.ctx.std().item() - 0.02) < 0.002


# ------------------------------------------------------------------ training
def test_only_context_trains_and_text_once_per_eval(tmp_path, data_root, capsys):
    cfg = method_cfg("CoOp", data_root, tmp_path / "o", **{"OPTIM.MAX_EPOCH": 2, "TRAINER.COOP.PREC": "fp16"})
    trainer = build(cfg)
    assert "running in fp32 on cpu" in capsys.readouterr().out
    assert trainer.prec == "fp32"
    clip_before = snapshot(trainer.clip_model)
    ctx_before = trainer.prompt_learner.ctx.detach().clone()
    optim = trainer._optims["prompt_learner"]
    params = [p for g in optim.param_groups for p in g["params"]]
    assert len(params) == 1 and params[0] is trainer.prompt_learner.ctx
    assert trainer.get_model_names() == ["prompt_learner"]
    calls = []
    original = trainer.encode_text
    trainer.encode_text = lambda: (calls.append(1), original())[1]
    trainer.train()  # 2 epochs, then the test (3 test batches of 4 images at most)
    n_train_steps = 2 * len(trainer.train_loader_x)
    assert len(calls) == n_train_steps + 1  # + once for the whole evaluation
    assert not torch.equal(trainer.prompt_learner.ctx.detach(), ctx_before)
    for k, v in trainer.clip_model.state_dict().items():
        assert torch.equal(v, clip_before[k]), k
    assert not trainer.clip_model.training and not trainer.image_encoder.training
    res = json.load(open(tmp_path / "o" / "results.json"))
    assert res["method"] == "CoOp" and res["split"] == "test"
    assert os.path.isfile(tmp_path / "o" / "prompt_learner" / "model.pth.tar-2")


def test_checkpoint_transfers_shared_context_to_new_classes(tmp_path, data_root, make_coop_dataset):
    trainer = build(method_cfg("CoOp", data_root, tmp_path / "a"))
    trainer.train()
    ctx = trainer.prompt_learner.ctx.detach().clone()
    other = make_coop_dataset(
        tmp_path / "data2",
        name="caltech101",
        n_classes=4,
        n_train=4,
        n_val=2,
        n_test=2,
        classnames=["dog", "sea_lion", "kangaroo", "ant"],
    )
    target = build(method_cfg("CoOp", other.root, tmp_path / "b"))
    target.load_model(str(tmp_path / "a"))
    pl = target.prompt_learner
    assert torch.equal(pl.ctx.detach(), ctx)
    assert pl.token_prefix.shape[0] == 4 and pl.token_suffix.shape[0] == 4
    fresh = PromptLearner(target.clip_model, other.classnames, n_ctx=16)
    assert torch.equal(pl.token_suffix, fresh.token_suffix)  # rebuilt from the new class names
    assert target.test() >= 0


def test_class_specific_context_refuses_other_class_count(tmp_path, data_root, make_coop_dataset):
    build(method_cfg("CoOp", data_root, tmp_path / "a", **{"TRAINER.COOP.CSC": True})).train()
    other = make_coop_dataset(
        tmp_path / "data2", name="caltech101", n_classes=4, n_train=2, n_val=1, n_test=1
    )
    target = build(method_cfg("CoOp", other.root, tmp_path / "b", **{"TRAINER.COOP.CSC": True}))
    with pytest.raises(ValueError, match="class-specific context cannot move"):
        target.load_model(str(tmp_path / "a"))


def test_bad_options_rejected(tmp_path, data_root):
    with pytest.raises(ValueError, match="PREC"):
        build(method_cfg("CoOp", data_root, tmp_path / "o", **{"TRAINER.COOP.PREC": "bf16"}))
    with pytest.raises(ValueError, match="CLASS_TOKEN_POSITION"):
        build(method_cfg("CoOp", data_root, tmp_path / "o", **{"TRAINER.COOP.CLASS_TOKEN_POSITION": "start"}))


def test_epoch_configs_follow_policy():
    import yaml

    for dataset, shots in [
        ("Caltech101", 1),
        ("Caltech101", 2),
        ("Caltech101", 4),
        ("Caltech101", 16),
        ("ImageNet", 8),
    ]:
        name = coop_config_name(dataset, shots)
        path = os.path.join(ROOT, "configs/trainers/CoOp", f"{name}.yaml")
        data = yaml.safe_load(open(path))
        assert data["OPTIM"]["MAX_EPOCH"] == coop_epochs(dataset, shots)
        assert data["OPTIM"]["NAME"] == "sgd" and data["OPTIM"]["LR"] == 0.002
        assert data["OPTIM"]["WARMUP_EPOCH"] == 1 and data["OPTIM"]["WARMUP_TYPE"] == "constant"


def test_masked_encoder_hook_is_used(tmp_path, data_root):
    """CoOp evaluates whatever build_image_encoder returns (the combinations' single hook)."""
    trainer = build(method_cfg("CoOp", data_root, tmp_path / "o"))
    fresh = load_clip("tiny")
    assert trainer.image_encoder is trainer.clip_model.visual
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        assert torch.allclose(trainer.encode_image(x), fresh.visual(x), atol=1e-5)


def test_reference_mode_recomputes_text_per_batch(tmp_path, data_root):
    """SPEED.REFERENCE reproduces CoOp's own loop (benchmarks): text features on every test batch."""
    trainer = build(method_cfg("CoOp", data_root, tmp_path / "o", **{"SPEED.REFERENCE": True}))
    assert not trainer.truncate
    calls = []
    original = trainer.encode_text
    trainer.encode_text = lambda: (calls.append(1), original())[1]
    trainer.test()
    assert len(calls) == len(trainer.test_loader) + 1 and len(trainer.test_loader) > 1
