"""ramt.clip.backend: tiny model, OpenAI-format files, names and missing-weights errors."""

from __future__ import annotations

import os

import open_clip
import pytest
import torch
from open_clip.model import CLIP, CLIPTextCfg, CLIPVisionCfg

from ramt.clip import (
    VIT_B16_SHA256,
    ClipWeightsNotFound,
    clip_input_size,
    get_tokenizer,
    is_vit,
    load_clip,
    load_openai_state_dict,
    maybe_half,
    save_openai_checkpoint,
)
from ramt.clip.backend import build_tiny_clip


def _images(n=2, size=224, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, size, size, generator=g)


def _same_weights(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    return all(torch.equal(sa[k], sb[k]) for k in sa)


def test_tiny_is_deterministic_and_leaves_global_rng_alone(tiny_clip):
    torch.manual_seed(123)
    before = torch.get_rng_state()
    again = load_clip("tiny")
    assert torch.equal(before, torch.get_rng_state())
    torch.manual_seed(999)
    assert _same_weights(tiny_clip, again)
    assert _same_weights(tiny_clip, build_tiny_clip())


def test_tiny_properties(tiny_clip):
    assert isinstance(tiny_clip, CLIP)
    assert not tiny_clip.training
    assert all(not p.requires_grad for p in tiny_clip.parameters())
    assert all(p.dtype == torch.float32 for p in tiny_clip.parameters())
    assert tiny_clip.logit_scale.exp().item() == pytest.approx(1 / 0.07, rel=1e-5)  # untrained CLIP
    assert clip_input_size(tiny_clip) == 224
    assert is_vit(tiny_clip)
    names = dict(tiny_clip.named_parameters())
    for key in (
        "visual.conv1.weight",
        "visual.proj",
        "visual.class_embedding",
        "visual.positional_embedding",
        "visual.transformer.resblocks.0.attn.in_proj_weight",
        "visual.transformer.resblocks.1.attn.out_proj.weight",
        "visual.transformer.resblocks.0.mlp.c_fc.weight",
        "visual.transformer.resblocks.0.mlp.c_proj.weight",
        "token_embedding.weight",
        "text_projection",
        "ln_final.weight",
    ):
        assert key in names, key
    # QuickGELU, as OpenAI's weights were trained with
    act = tiny_clip.visual.transformer.resblocks[0].mlp.gelu
    assert isinstance(act, open_clip.transformer.QuickGELU)


def test_tiny_zero_shot_is_not_degenerate(tiny_clip):
    with torch.no_grad():
        f = torch.nn.functional.normalize(tiny_clip.encode_image(_images(4)), dim=-1)
    # distinct images give distinct features
    sims = f @ f.T
    assert (sims - torch.eye(4)).abs().max() < 0.9999


@pytest.mark.parametrize("fixture", ["tiny_clip_ckpt", "tiny_clip_torchscript"])
def test_load_from_file_matches_source(request, tiny_clip, fixture):
    path = request.getfixturevalue(fixture)
    loaded = load_clip("", path=path)
    assert _same_weights(tiny_clip, loaded)
    assert all(not p.requires_grad for p in loaded.parameters()) and not loaded.training
    x = _images()
    tok = open_clip.tokenizer.SimpleTokenizer()(["a photo of a dog.", "a cat"])
    with torch.no_grad():
        assert torch.equal(tiny_clip.encode_image(x), loaded.encode_image(x))
        assert torch.equal(tiny_clip.encode_text(tok), loaded.encode_text(tok))


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_torchscript_archive_reads_back_with_jit(tiny_clip, tiny_clip_torchscript):
    sd = torch.jit.load(tiny_clip_torchscript, map_location="cpu").state_dict()
    assert set(sd) == set(tiny_clip.state_dict())


def test_path_wins_over_name(tiny_clip, tiny_clip_ckpt):
    loaded = load_clip("ViT-B/16", path=tiny_clip_ckpt)
    assert _same_weights(tiny_clip, loaded)


def test_wrapped_and_prefixed_state_dict(tmp_path, tiny_clip):
    sd = {"module." + k: v.half() for k, v in tiny_clip.state_dict().items()}
    path = tmp_path / "wrapped.pt"
    torch.save({"state_dict": sd, "epoch": 3}, path)
    loaded = load_clip("", path=str(path))
    assert all(p.dtype == torch.float32 for p in loaded.parameters())
    ref = {k: v.half().float() for k, v in tiny_clip.state_dict().items()}
    assert all(torch.equal(ref[k], v) for k, v in loaded.state_dict().items())


def test_architecture_is_inferred_from_weights(tmp_path):
    torch.manual_seed(0)
    vision = CLIPVisionCfg(layers=3, width=192, patch_size=16, image_size=64)
    text = CLIPTextCfg(context_length=77, vocab_size=49408, width=64, heads=1, layers=1)
    src = CLIP(16, vision_cfg=vision, text_cfg=text, quick_gelu=True).eval()
    path = save_openai_checkpoint(src, str(tmp_path / "odd.pt"))
    loaded = load_clip("", path=path)
    assert len(loaded.visual.transformer.resblocks) == 3
    assert loaded.visual.transformer.resblocks[0].attn.num_heads == 3
    assert len(loaded.transformer.resblocks) == 1
    assert clip_input_size(loaded) == 64
    assert loaded.text_projection.shape == (64, 16)
    x = _images(1, 64)
    with torch.no_grad():
        torch.testing.assert_close(loaded.encode_image(x), src.encode_image(x), rtol=0, atol=0)


def test_resnet_architecture_is_inferred(tmp_path):
    torch.manual_seed(0)
    vision = CLIPVisionCfg(layers=(1, 1, 1, 1), width=8, image_size=64)
    text = CLIPTextCfg(context_length=77, vocab_size=49408, width=64, heads=1, layers=1)
    src = CLIP(16, vision_cfg=vision, text_cfg=text, quick_gelu=True).eval()
    path = save_openai_checkpoint(src, str(tmp_path / "rn.pt"))
    loaded = load_clip("", path=path)
    assert not is_vit(loaded)
    assert clip_input_size(loaded) == 64
    x = _images(1, 64)
    with torch.no_grad():
        torch.testing.assert_close(loaded.encode_image(x), src.encode_image(x), rtol=0, atol=0)


def test_named_model_found_in_cache_dir(monkeypatch, tmp_path, tiny_clip, tiny_clip_torchscript):
    home = tmp_path / "home"
    (home / ".cache" / "clip").mkdir(parents=True)
    os.symlink(tiny_clip_torchscript, home / ".cache" / "clip" / "ViT-B-16.pt")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("RAMT_CLIP_DIR", raising=False)
    assert _same_weights(tiny_clip, load_clip("ViT-B/16"))


def test_named_model_found_in_env_dir(monkeypatch, tmp_path, tiny_clip, tiny_clip_ckpt):
    d = tmp_path / "weights"
    d.mkdir()
    os.symlink(tiny_clip_ckpt, d / "RN50.pt")
    monkeypatch.setenv("HOME", str(tmp_path / "empty_home"))
    monkeypatch.setenv("RAMT_CLIP_DIR", str(d))
    assert _same_weights(tiny_clip, load_clip("RN50"))


def test_missing_weights_message(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("RAMT_CLIP_DIR", raising=False)
    monkeypatch.setenv("RAMT_OFFLINE", "1")
    with pytest.raises(ClipWeightsNotFound) as info:
        load_clip("ViT-B/16")
    msg = str(info.value)
    assert isinstance(info.value, FileNotFoundError)
    assert os.path.join("~", ".cache", "clip", "ViT-B-16.pt") in msg
    assert "MODEL.BACKBONE.PATH /path/to/ViT-B-16.pt" in msg
    assert VIT_B16_SHA256 in msg


def test_missing_path_raises(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_clip("", path=str(tmp_path / "nope.pt"))


def test_not_a_clip_file(tmp_path):
    path = tmp_path / "junk.pt"
    torch.save({"weight": torch.zeros(2)}, path)
    with pytest.raises(ValueError, match="OpenAI's key format"):
        load_openai_state_dict(str(path))


def test_unknown_name_lists_names_with_hint():
    with pytest.raises(ValueError) as info:  # an open_clip name without weights points at CoOp's name
        load_clip("ViT-B-16")
    msg = str(info.value)
    assert "MODEL.BACKBONE.PRETRAINED" in msg and "laion2b_s34b_b88k" in msg
    assert "CoOp's name 'ViT-B/16'" in msg
    with pytest.raises(ValueError) as info:
        load_clip("ViT-B/61")
    msg = str(info.value)
    assert "Did you mean 'ViT-B/16'" in msg
    for name in ("RN50", "RN101", "ViT-B/32", "ViT-B/16", "ViT-L/14", "tiny"):
        assert name in msg
    with pytest.raises(ValueError, match="Accepted names"):
        load_clip("")


def test_sha_matches_open_clip_url():
    url = open_clip.get_pretrained_cfg("ViT-B-16", "openai")["url"]
    assert VIT_B16_SHA256 in url


def test_maybe_half_keeps_fp32_on_cpu():
    m = load_clip("tiny")
    assert maybe_half(m, "cpu", "fp16") is m
    assert all(p.dtype == torch.float32 for p in m.parameters())
    with pytest.raises(ValueError):
        maybe_half(m, "cpu", "fp8")


def test_tokenizer_shape():
    tok = get_tokenizer()
    assert get_tokenizer() is tok
    ids = tok(["a photo of a cat.", "x " * 200])
    assert ids.shape == (2, 77)
    assert ids[1, -1] == ids.max()  # over-long text keeps its EOT


def test_vit_b16_architecture_inference_param_counts():
    """Shapes only (meta tensors): inferring ViT-B/16 from its keys gives method.md §2.1's counts."""
    from ramt.clip.backend import _infer_configs

    with torch.device("meta"):
        ref = open_clip.create_model("ViT-B-16", pretrained=None, force_quick_gelu=True, device="meta")
        embed_dim, vision, text = _infer_configs(ref.state_dict())
        model = CLIP(embed_dim, vision_cfg=vision, text_cfg=text, quick_gelu=True)
    assert sum(p.numel() for p in model.parameters()) == 149_620_737
    assert sum(p.numel() for p in model.visual.parameters()) == 86_192_640
    assert model.visual.transformer.resblocks[0].attn.num_heads == 12
    assert model.transformer.resblocks[0].attn.num_heads == 8


def test_tiny_features_are_not_collapsed(tiny_clip):
    """Different images must give different features, or masks have nothing to select."""
    g = torch.Generator().manual_seed(0)
    images = torch.randn(16, 3, 224, 224, generator=g)
    with torch.no_grad():
        feats = torch.nn.functional.normalize(tiny_clip.encode_image(images), dim=-1)
    assert feats.mean(0).norm().item() < 0.9
