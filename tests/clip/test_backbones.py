"""ramt.clip.backbones: the table, folder tags, preprocessing; identity from the weights; no unpickling;
open_clip models (local checkpoints, pretrained tags offline)."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import warnings

import open_clip
import pytest
import torch
from open_clip.model import CLIP, CLIPTextCfg, CLIPVisionCfg

from ramt.clip.backbones import (
    BACKBONES,
    OPENAI_MEAN,
    OPENAI_STD,
    folder_tag,
    resolve_preprocess,
    tag_from_options,
)
from ramt.clip.backend import (
    CLIP_NAMES,
    OPENAI_FILES,
    UnsafeCheckpointError,
    load_backbone,
    load_clip,
    save_openai_checkpoint,
)
from ramt.config import SHIPPED_CONFIGS, get_cfg_default, merge_from_file, merge_from_list
from ramt.masks.selection import UnsupportedBackboneError, select_mask_targets

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# ------------------------------------------------------------------------------- the table


def test_table_owns_names_files_and_checksums():
    assert set(BACKBONES) == {"RN50", "RN101", "ViT-B/32", "ViT-B/16", "ViT-L/14", "tiny"}
    assert CLIP_NAMES["ViT-B/16"] == "ViT-B-16" and OPENAI_FILES["ViT-L/14"] == "ViT-L-14.pt"
    for name, oc_name in CLIP_NAMES.items():  # the SHA-256 is the one in OpenAI's download address
        assert BACKBONES[name].sha256 in open_clip.get_pretrained_cfg(oc_name, "openai")["url"]
    tags = [b.tag for b in BACKBONES.values()]
    assert len(set(tags)) == len(tags) and BACKBONES["ViT-B/16"].tag == "vit_b16"


def test_table_architectures_match_open_clip_configs():
    from ramt.clip.backend import architecture_signature

    for name, oc_name in CLIP_NAMES.items():
        with torch.device("meta"):
            model = open_clip.create_model(oc_name, pretrained=None, device="meta")
        assert architecture_signature(model.state_dict()) == BACKBONES[name].architecture, name


def test_folder_tags():
    assert folder_tag() == "vit_b16" and folder_tag("ViT-B/16") == "vit_b16"
    assert folder_tag("tiny") == "tiny" and folder_tag("ViT-L/14") == "vit_l14"
    assert folder_tag("ViT-B-16", "laion2b_s34b_b88k") == "vit_b16_laion2b_s34b_b88k"
    assert folder_tag("ViT-B-16-quickgelu", "metaclip_fullcc") == "vit_b16_quickgelu_metaclip_fullcc"
    assert folder_tag("tiny-gelu", path="/x/random-init.safetensors") == "tiny_gelu_random_init"
    own = BACKBONES["ViT-B/16"].sha256
    assert folder_tag("ViT-B/16", path="/weights/ViT-B-16.pt", sha256=own) == "vit_b16"  # OpenAI's own file
    assert tag_from_options(["OPTIM.LR", "0.1", "MODEL.BACKBONE.NAME", "tiny"]) == "tiny"
    assert tag_from_options([]) == "vit_b16"


def test_tag_cli_is_light():
    res = subprocess.run(
        [sys.executable, "-c", "import sys, ramt.clip.backbones as b; b.main(sys.argv[1:]); "
         "print('torch' in sys.modules, 'open_clip' in sys.modules)", "tag", "MODEL.BACKBONE.NAME", "tiny"],
        capture_output=True, text=True, cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT),
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["tiny", "False", "False"]


# ------------------------------------------------------------------------------- preprocessing


def _cfg(*opts, trainer_cfg=""):
    cfg = get_cfg_default()
    if trainer_cfg:
        merge_from_file(cfg, trainer_cfg, "trainers")
    merge_from_list(cfg, list(opts))
    return cfg


def test_default_preprocessing_comes_from_the_backbone_without_touching_the_config():
    cfg = _cfg("MODEL.BACKBONE.NAME", "ViT-B/16")
    before = cfg.dump()
    pp = resolve_preprocess(cfg)
    assert cfg.dump() == before
    assert pp.size == (224, 224) and pp.interpolation == "bicubic" and pp.resize_mode == "shortest"
    assert pp.mean == OPENAI_MEAN and pp.std == OPENAI_STD
    assert "ViT-B/16 (backbone table)" in pp.source


def test_explicit_values_win():
    cfg = _cfg("MODEL.BACKBONE.NAME", "tiny", "INPUT.PIXEL_MEAN", "[0.5, 0.5, 0.5]", "INPUT.SIZE", "(32, 32)")
    pp = resolve_preprocess(cfg)
    assert pp.mean == (0.5, 0.5, 0.5) and pp.size == (32, 32)
    assert pp.std == OPENAI_STD and pp.interpolation == "bicubic"
    assert "size, mean from the config" in pp.source


@pytest.mark.parametrize("name", sorted(n for n in os.listdir(os.path.join(SHIPPED_CONFIGS, "trainers"))))
def test_shipped_trainer_configs_keep_clip_preprocessing(name):
    folder = os.path.join(SHIPPED_CONFIGS, "trainers", name)
    for f in sorted(os.listdir(folder)):
        cfg = _cfg(trainer_cfg=os.path.join(folder, f))
        text = open(os.path.join(folder, f)).read()
        assert "PIXEL_MEAN" not in text and "PIXEL_STD" not in text, f
        pp = resolve_preprocess(cfg)
        assert (pp.size, pp.interpolation, pp.mean, pp.std, pp.resize_mode) == (
            (224, 224),
            "bicubic",
            OPENAI_MEAN,
            OPENAI_STD,
            "shortest",
        ), f


def test_open_clip_pretrained_preprocessing_needs_no_weights():
    pp = resolve_preprocess(
        _cfg("MODEL.BACKBONE.NAME", "ViT-B-16-SigLIP", "MODEL.BACKBONE.PRETRAINED", "webli")
    )
    want = open_clip.get_pretrained_cfg("ViT-B-16-SigLIP", "webli")
    assert pp.mean == tuple(want["mean"]) and pp.mean != OPENAI_MEAN
    assert pp.resize_mode == want["resize_mode"] and "webli" in pp.source


# ------------------------------------------------------------------------------- identity


def _odd_clip(width=192, layers=3):
    """A CLIP of another architecture than ViT-B/16 (192 wide, 3 layers; same input size)."""
    torch.manual_seed(0)
    vision = CLIPVisionCfg(layers=layers, width=width, patch_size=32, image_size=224)
    text = CLIPTextCfg(context_length=77, vocab_size=49408, width=64, heads=1, layers=1)
    return CLIP(16, vision_cfg=vision, text_cfg=text, quick_gelu=True).eval()


def test_other_architecture_is_never_labelled_vit_b16(tmp_path, capsys):
    path = save_openai_checkpoint(_odd_clip(), str(tmp_path / "ViT-B-16.pt"))
    ident = load_backbone("ViT-B/16", path=path).identity
    assert ident.label != "ViT-B/16" and "vit w192 L3" in ident.label and "ViT-B-16.pt" in ident.label
    assert ident.architecture.startswith("vit w192 L3 p32 224px")
    assert "are 'vit w192 L3" in capsys.readouterr().out  # the mismatch is said aloud


def test_label_from_checksum(tmp_path, monkeypatch, tiny_clip):
    path = save_openai_checkpoint(tiny_clip, str(tmp_path / "some.pt"))
    assert load_backbone("ViT-B/16", path=path).identity.label.endswith("(some.pt)")
    from ramt.clip.backend import file_sha256

    fake = dict(BACKBONES)
    fake["ViT-B/16"] = dataclasses.replace(BACKBONES["ViT-B/16"], sha256=file_sha256(path))
    monkeypatch.setattr("ramt.clip.backend.BACKBONES", fake)
    assert load_backbone("ViT-B/16", path=path).identity.label == "ViT-B/16"


def test_results_json_and_report_use_the_real_identity(tmp_path, make_coop_dataset, capsys):
    """MODEL.BACKBONE.NAME ViT-B/16 + a 192-wide 3-layer file: results.json and the report name what the
    file is, and the report marks it non-comparable."""
    import train
    from ramt.report.collect import collect_runs
    from ramt.report.tables import NOT_COMPARABLE, comparable, row_label

    root = tmp_path / "data"
    make_coop_dataset(root, name="caltech101", n_classes=3, n_train=4, n_val=2, n_test=3)
    path = save_openai_checkpoint(_odd_clip(), str(tmp_path / "weights.pt"))
    out = tmp_path / "out" / "ZeroshotCLIP" / "x" / "caltech101"
    argv = [
        "--root", str(root), "--trainer", "ZeroshotCLIP", "--dataset-config-file", "caltech101",
        "--config-file", "ZeroshotCLIP/vit_b16", "--output-dir", str(out), "--eval-only",
        "DATALOADER.NUM_WORKERS", "0", "MODEL.BACKBONE.NAME", "ViT-B/16", "MODEL.BACKBONE.PATH", path,
    ]  # fmt: skip
    assert train.cli(argv) == 0
    res = json.loads((out / "results.json").read_text())
    assert res["backbone"] != "ViT-B/16" and "vit w192 L3" in res["backbone"]
    assert res["backbone_identity"]["architecture"].startswith("vit w192 L3")
    df = collect_runs(tmp_path / "out")
    assert list(df["backbone"]) == [res["backbone"]]
    assert not comparable(res["backbone"]) and row_label("ZeroShotCLIP", res["backbone"]).endswith(
        NOT_COMPARABLE
    )


# ------------------------------------------------------------------------------- no unpickling


class _Payload:
    """Unpickling this runs code (creates a marker folder)."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def test_pickled_checkpoint_is_refused_unless_allowed(tmp_path, tiny_clip):
    marker = str(tmp_path / "code_ran")
    path = tmp_path / "pickled.pt"
    torch.save({"state_dict": tiny_clip.state_dict(), "meta": _Payload(marker)}, path)
    with pytest.raises(UnsafeCheckpointError) as info:
        load_clip("", path=str(path))
    msg = str(info.value)
    assert not os.path.exists(marker)
    assert str(path) in msg and "MODEL.BACKBONE.ALLOW_PICKLE True" in msg and "torch.save" in msg
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = load_clip("", path=str(path), allow_pickle=True)
    assert os.path.exists(marker)  # full unpickling did run
    assert any("ALLOW_PICKLE" in str(w.message) for w in caught)
    assert all(torch.equal(model.state_dict()[k], v) for k, v in tiny_clip.state_dict().items())


def test_allow_pickle_is_off_by_default():
    assert get_cfg_default().MODEL.BACKBONE.ALLOW_PICKLE is False


def test_torchscript_archive_loads_without_allow_pickle(tiny_clip, tiny_clip_torchscript):
    loaded = load_clip("", path=tiny_clip_torchscript)  # allow_pickle stays False
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in tiny_clip.state_dict().items())


# ------------------------------------------------------------------------------- open_clip models

TINY_OC_CFG = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 64, "patch_size": 16, "width": 64, "layers": 2, "head_width": 32},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 1},
}
TINY_OC_PRE = {"mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25], "interpolation": "bilinear"}


def write_open_clip_checkpoint(folder, name="random-init.safetensors"):
    """A tiny open_clip-format checkpoint (random weights, GELU) with its open_clip_config.json."""
    from safetensors.torch import save_file

    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "open_clip_config.json"), "w") as f:
        json.dump({"model_cfg": TINY_OC_CFG, "preprocess_cfg": TINY_OC_PRE}, f)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        src = open_clip.create_model("local-dir:" + str(folder), load_weights=False).eval()
    path = os.path.join(folder, name)
    save_file({k: v.contiguous() for k, v in src.state_dict().items()}, path)
    return path, src


def test_local_open_clip_checkpoint_is_built_as_open_clip(tmp_path):
    path, src = write_open_clip_checkpoint(tmp_path / "oc")
    loaded = load_backbone("tiny-gelu", path=path)
    model, ident = loaded.model, loaded.identity
    assert isinstance(model.visual.transformer.resblocks[0].mlp.gelu, torch.nn.GELU)
    assert ident.activation == "GELU" and ident.source == "open_clip"
    assert ident.label == "tiny-gelu (random-init.safetensors)"
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(model.encode_image(x), src.encode_image(x), rtol=0, atol=0)
    assert select_mask_targets(model.visual)[0] == "conv1.weight"  # masks work on it
    cfg = _cfg("MODEL.BACKBONE.NAME", "tiny-gelu", "MODEL.BACKBONE.PATH", path)
    pp = resolve_preprocess(cfg)
    assert pp.mean == (0.5, 0.5, 0.5) and pp.interpolation == "bilinear" and pp.size == (64, 64)
    assert resolve_preprocess(cfg, model) == pp


def test_open_clip_state_dict_under_a_registered_name(tmp_path):
    """A .pt state dict in open_clip's format with a config registered through open_clip.add_model_config."""
    cfg_dir = tmp_path / "configs"
    cfg_dir.mkdir()
    (cfg_dir / "tiny-gelu-registered.json").write_text(json.dumps(TINY_OC_CFG))
    open_clip.add_model_config(str(cfg_dir))
    src = open_clip.create_model("tiny-gelu-registered").eval()
    torch.save(src.state_dict(), tmp_path / "w.pt")
    model = load_clip("tiny-gelu-registered", path=str(tmp_path / "w.pt"))
    assert isinstance(model.visual.transformer.resblocks[0].mlp.gelu, torch.nn.GELU)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(model.encode_image(x), src.encode_image(x), rtol=0, atol=0)


def test_unsupported_towers_are_refused_with_the_supported_list():
    with torch.device("meta"):
        model = open_clip.create_model("RN50", pretrained=None, device="meta")
    with pytest.raises(UnsupportedBackboneError) as info:
        select_mask_targets(model.visual)
    assert "ViT-B-16" in str(info.value) and "SigLIP" in str(info.value)
    from ramt.clip.backend import _check_supported

    with torch.device("meta"):
        siglip = open_clip.create_model("ViT-B-16-SigLIP", pretrained=None, device="meta")
    with pytest.raises(UnsupportedBackboneError, match="CustomTextCLIP.*Supported backbones"):
        _check_supported(siglip, "ViT-B-16-SigLIP")


def test_missing_pretrained_weights_fail_fast_offline(tmp_path):
    code = (
        "import time; from ramt.clip import load_clip\n"
        "t = time.perf_counter()\n"
        "try:\n"
        "    load_clip('ViT-B-16', pretrained='laion2b_s34b_b88k')\n"
        "except FileNotFoundError as e:\n"
        "    print('ELAPSED', time.perf_counter() - t); print(e)\n"
    )
    env = dict(os.environ, HF_HOME=str(tmp_path / "hf"), HF_HUB_OFFLINE="1", PYTHONPATH=ROOT)
    env.pop("RAMT_OFFLINE", None)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT)
    assert res.returncode == 0 and "ELAPSED" in res.stdout, res.stderr[-2000:]
    elapsed = float(res.stdout.split("ELAPSED")[1].split()[0])
    msg = res.stdout.split("\n", 1)[1]
    assert elapsed < 10.0
    assert "laion2b_s34b_b88k" in msg and str(tmp_path / "hf" / "hub") in msg
    assert "open_clip.create_model('ViT-B-16', pretrained='laion2b_s34b_b88k')" in msg


def test_a_foreign_weights_file_never_lands_in_the_table_folder(tmp_path):
    """Issue 20: MODEL.BACKBONE.PATH with foreign weights under a CoOp name gets its own folder tag."""
    foreign = tmp_path / "my-finetune.pt"
    foreign.write_bytes(b"not OpenAI's weights")
    assert folder_tag("ViT-B/16", path=str(foreign)) == "vit_b16_my_finetune"
    assert folder_tag("", path=str(foreign)) == "vit_b16_my_finetune"
    assert tag_from_options(["MODEL.BACKBONE.NAME", "ViT-B/16", "MODEL.BACKBONE.PATH", str(foreign)]) == (
        "vit_b16_my_finetune"
    )
