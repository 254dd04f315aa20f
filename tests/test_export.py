"""ramt.export on the quick-start run: open_clip and OpenAI files give the run's evaluation logits;
the masks file round-trips through read_masks_file, ramt.analyze and MASK.SOURCE_RUN."""

from __future__ import annotations

import json
import os

import open_clip
import pytest
import torch

from ramt.analyze import analyze
from ramt.clip import build_text_classifier, get_template, load_clip, normalize
from ramt.engine.checkpoint import load_checkpoint
from ramt.export import export_run, main, run_config
from ramt.mask_source import load_source_masks
from ramt.masks import read_masks_file, unpack_masks


@pytest.fixture(scope="module")
def eval_path(quick_ramt_run, tmp_path_factory):
    """The run's own evaluation path: the RAMT trainer with its saved masks, and one test batch."""
    from ramt.registry import TRAINER_REGISTRY
    from ramt.train import import_plugins

    import_plugins()
    cfg = run_config(quick_ramt_run.run_dir)
    cfg.OUTPUT_DIR = str(tmp_path_factory.mktemp("eval_out"))
    cfg.TRAIN.TENSORBOARD = False
    trainer = TRAINER_REGISTRY.get(cfg.TRAINER.NAME)(cfg)
    trainer.load_model(quick_ramt_run.run_dir)
    trainer.before_test("test")
    images = next(iter(trainer.test_loader))["img"][:6]
    with torch.no_grad():
        logits = trainer.model_inference(images).float()
    return trainer, images, logits


def logits_of(model, trainer, images):
    """Logits of a plain CLIP the way the R-AMT run classifies (its prompt, its text head)."""
    text = build_text_classifier(
        model,
        trainer.classnames,
        [get_template(trainer.cfg.DATASET.NAME)],
        lowercase=True,
        normalize_each=False,
    )
    with torch.no_grad():
        feats = model.encode_image(images)
        return model.logit_scale.exp() * normalize(feats.float()) @ text.t()


def test_open_clip_export_gives_the_runs_logits(quick_ramt_run, eval_path, tmp_path, capsys):
    trainer, images, want = eval_path
    out = tmp_path / "tuned.pt"
    assert main([quick_ramt_run.run_dir, "--format", "open_clip", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "open_clip.add_model_config" in printed and (tmp_path / "tuned.json").is_file()
    config = json.loads((tmp_path / "tuned.json").read_text())
    assert config["quick_gelu"] is True and config["vision_cfg"]["width"] == 128
    open_clip.add_model_config(str(tmp_path / "tuned.json"))
    model = open_clip.create_model("tuned", pretrained=str(out)).eval()
    got = logits_of(model, trainer, images)
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)
    # The masks are really folded: the exported encoder differs from the unmasked tiny, and some
    # in-projection weights are exactly zero where the masks are 0.
    sparsity = json.load(open(os.path.join(quick_ramt_run.run_dir, "sparsity.json")))
    assert sparsity["zeros"] > 0
    plain = logits_of(load_clip("tiny").eval(), trainer, images)
    assert not torch.allclose(plain, want, atol=1e-3)
    masks = unpack_masks(
        load_checkpoint(os.path.join(quick_ramt_run.run_dir, "shared", "model.pth.tar-2"))["state_dict"]
    )
    w = model.visual.transformer.resblocks[0].attn.in_proj_weight
    off = ~masks["transformer.resblocks.0.attn.in_proj_weight"]
    assert off.any() and bool((w[off] == 0).all())
    # An existing file is never overwritten silently.
    assert main([quick_ramt_run.run_dir, "--format", "open_clip", "--out", str(out)]) == 2
    assert "already exist" in capsys.readouterr().err


def test_openai_fp16_export_loads_as_backbone_path(quick_ramt_run, eval_path, tmp_path):
    trainer, images, want = eval_path
    out = tmp_path / "tuned_openai.pt"
    res = export_run(quick_ramt_run.run_dir, "openai", str(out), dtype="fp16")
    sd = torch.load(out, map_location="cpu", weights_only=True)
    assert sd["visual.conv1.weight"].dtype == torch.float16 and "text_projection" in sd
    assert any("MODEL.BACKBONE.PATH" in line for line in res["usage"])
    model = load_clip("", path=str(out)).eval()  # what MODEL.BACKBONE.PATH does
    got = logits_of(model, trainer, images)
    torch.testing.assert_close(got, want, rtol=0, atol=0.05)  # fp16 weights
    assert (got.argmax(1) == want.argmax(1)).float().mean() >= 0.8


def test_masks_file_round_trip(quick_ramt_run, eval_path, tmp_path):
    trainer, _, _ = eval_path
    out = tmp_path / "masks.safetensors"
    assert main([quick_ramt_run.run_dir, "--format", "masks", "--out", str(out)]) == 0
    assert main([quick_ramt_run.run_dir, "--format", "masks", "--out", str(tmp_path / "m.pt")]) == 2
    payload, header = read_masks_file(str(out))
    run_info = json.load(open(os.path.join(quick_ramt_run.run_dir, "mask_run.json")))
    saved = load_checkpoint(os.path.join(quick_ramt_run.run_dir, "shared", "model.pth.tar-2"))["state_dict"]
    assert header["backbone"] == "tiny" and header["layers"] == ["conv1", "attn"]
    assert header["threshold"] == saved["threshold"] and header["fingerprint"] == run_info["mask_fingerprint"]
    assert header["run"]["dataset"] == "Digits" and header["run"]["seed"] == 1 and header["head_width"] == 64
    a, b = unpack_masks(payload), unpack_masks(saved)
    assert list(a) == list(b) and all(torch.equal(a[n], b[n]) for n in a)
    assert payload["zeros"] == saved["zeros"] > 0
    assert out.stat().st_size < 2 * sum(m["bits"].numel() for m in saved["masks"]) + 10_000
    # ramt.analyze reads it like the run folder.
    files = analyze([str(out)], out=str(tmp_path / "an"), plots=False)
    runs = open(files["runs.csv"]).read()
    assert "Digits" in runs and str(saved["zeros"]) in runs
    # MASK.SOURCE_RUN accepts it, with the run's checks and fingerprint.
    cfg = trainer.cfg.clone()
    cfg.defrost()
    cfg.MASK.SOURCE_RUN = str(out)
    mask_set, info = load_source_masks(cfg, load_clip("tiny"), trainer.dm.dataset)
    assert info["mask_fingerprint"] == run_info["mask_fingerprint"]
    assert int(mask_set.num_entries - mask_set.binary_flat().sum()) == saved["zeros"]
    cfg.SEED = 2
    with pytest.raises(ValueError, match="seed"):
        load_source_masks(cfg, load_clip("tiny"), trainer.dm.dataset)


def test_open_clip_config_inference_and_openai_refusal():
    from open_clip.model import CLIP

    from ramt.export import _openai_compatible, open_clip_model_config

    gelu = CLIP(
        64,
        vision_cfg={"image_size": 64, "patch_size": 16, "width": 128, "layers": 2, "head_width": 32},
        text_cfg={"context_length": 77, "vocab_size": 49408, "width": 128, "heads": 2, "layers": 1},
    )
    cfg = open_clip_model_config(gelu)
    assert cfg["quick_gelu"] is False and cfg["vision_cfg"]["head_width"] == 32
    rebuilt = CLIP(**cfg)
    assert open_clip_model_config(rebuilt) == cfg
    assert {k: v.shape for k, v in rebuilt.state_dict().items()} == {
        k: v.shape for k, v in gelu.state_dict().items()
    }
    assert "GELU" in _openai_compatible(gelu)
    assert _openai_compatible(load_clip("tiny")) is None


def test_export_of_an_open_clip_gelu_backbone_run(tmp_path, digits_root):
    """A run on a local open_clip-format checkpoint (GELU, 64 px): open_clip export re-loads with the
    run's masked features; OpenAI's format, which implies QuickGELU, is refused."""
    from ramt.train import cli
    from tests.clip.test_backbones import write_open_clip_checkpoint

    path, _ = write_open_clip_checkpoint(tmp_path / "weights")
    run = tmp_path / "run"
    argv = [
        "--root", digits_root, "--seed", "1", "--trainer", "RAMT", "--dataset-config-file", "digits",
        "--config-file", "RAMT/digits_vit_b16", "--output-dir", str(run),
        "MODEL.BACKBONE.NAME", "tiny-gelu", "MODEL.BACKBONE.PATH", path, "DATASET.NUM_SHOTS", "1",
        "OPTIM.MAX_EPOCH", "1", "OPTIM.LR", "0.05", "TEST.SPLIT", "val", "TRAIN.TENSORBOARD", "False",
    ]  # fmt: skip
    assert cli(argv) == 0
    with pytest.raises(ValueError, match="GELU"):
        export_run(str(run), "openai", str(tmp_path / "x.pt"))
    assert not (tmp_path / "x.pt").exists()
    out = tmp_path / "gelu_tuned.safetensors"
    export_run(str(run), "open_clip", str(out))
    open_clip.add_model_config(str(tmp_path / "gelu_tuned.json"))
    model = open_clip.create_model("gelu_tuned", pretrained=str(out)).eval()
    assert isinstance(model.visual.transformer.resblocks[0].mlp.gelu, torch.nn.GELU)
    from ramt.export import folded_clip

    folded, _, info = folded_clip(str(run))
    assert info["zeros"] > 0
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(model.encode_image(x), folded.encode_image(x), rtol=1e-5, atol=1e-5)
