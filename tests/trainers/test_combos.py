"""CoOp + R-AMT and Tip-Adapter + R-AMT: masked encoder W*B, masks frozen, source-run checks, joint mode."""

import os

import pytest
import torch

from ramt.clip import load_clip
from ramt.config import mask_layers
from ramt.data.manager import build_dataset
from ramt.engine.checkpoint import save_checkpoint
from ramt.mask_source import MaskSourceError, load_source_masks
from ramt.mask_tuning import save_run_info
from ramt.masks import MaskSet, mask_fingerprint, masked_forward, pack_masks
from tests.fixtures.trainer_fixtures import build, method_cfg, snapshot


def make_mask_run(run_dir, cfg, zero_frac=0.3, mask_seed=0, **info_overrides):
    """A finished R-AMT run folder with hand-made binary masks (about ``zero_frac`` zeros)."""
    visual = load_clip("tiny").visual
    ms = MaskSet.from_module(visual, layers=mask_layers(cfg))
    g = torch.Generator().manual_seed(mask_seed)
    ms.set_binary_(torch.rand(ms.num_entries, generator=g) >= zero_frac)
    state = {
        "state_dict": pack_masks(ms, backbone="tiny", epoch=1),
        "epoch": 1,
        "optimizer": None,
        "scheduler": None,
        "val_result": None,
    }
    save_checkpoint(state, os.path.join(run_dir, "shared"))
    info = {
        "trainer": "RAMT",
        "dataset": cfg.DATASET.NAME,
        "shots": int(cfg.DATASET.NUM_SHOTS),
        "seed": int(cfg.SEED),
        "backbone": "tiny",
        "layers": list(ms.layers),
        "split_fingerprint": build_dataset(cfg).split_fingerprint,
        "subsample_classes": "all",
        "epoch": 1,
        "mask_fingerprint": mask_fingerprint(ms),
    }
    info.update(info_overrides)
    save_run_info(str(run_dir), info)
    return ms


def combo_cfg(trainer, root, out, run_dir, **opts):
    extra = {"TRAINER.TIP.AUGMENT_EPOCH": 2} if trainer == "TipAdapterRAMT" else {}
    return method_cfg(trainer, root, out, **{"MASK.SOURCE_RUN": str(run_dir), **extra, **opts})


def assert_folded(encoder, ms):
    """Every masked weight equals W * B, every other tensor equals plain CLIP's."""
    plain = load_clip("tiny").visual
    binary = ms.binary()
    assert any((~b).any() for b in binary.values())
    for name, w0 in plain.named_parameters():
        w = encoder.get_parameter(name)
        expected = w0 * binary[name] if name in binary else w0
        assert torch.equal(w.detach(), expected.detach()), name


@pytest.mark.parametrize("trainer_name", ["CoOpRAMT", "TipAdapterRAMT"])
def test_combination_starts_from_masked_encoder(tmp_path, data_root, trainer_name):
    cfg0 = method_cfg("CoOp", data_root, tmp_path / "x")
    ms = make_mask_run(tmp_path / "ramt", cfg0)
    trainer = build(combo_cfg(trainer_name, data_root, tmp_path / "o", tmp_path / "ramt"))
    assert_folded(trainer.image_encoder, ms)
    assert trainer.encoder_id == f"ramt:{mask_fingerprint(ms)}"
    x = torch.randn(2, 3, 224, 224)
    plain = load_clip("tiny").visual
    with torch.no_grad():
        feats = trainer.image_encoder(x)
        assert torch.allclose(feats, masked_forward(plain, ms, x), atol=1e-4)
        assert not torch.allclose(feats, plain(x), atol=1e-3)
    assert "shared" not in trainer.get_model_names()


def test_coop_ramt_two_stage_never_updates_masks(tmp_path, data_root):
    cfg0 = method_cfg("CoOp", data_root, tmp_path / "x")
    ms = make_mask_run(tmp_path / "ramt", cfg0)
    trainer = build(
        combo_cfg("CoOpRAMT", data_root, tmp_path / "o", tmp_path / "ramt", **{"OPTIM.MAX_EPOCH": 2})
    )
    ctx0 = trainer.prompt_learner.ctx.detach().clone()
    trainer.train()
    assert trainer.get_model_names() == ["prompt_learner"]
    assert not torch.equal(trainer.prompt_learner.ctx.detach(), ctx0)
    assert_folded(trainer.image_encoder, ms)
    assert trainer.extra_results["mask_fingerprint"] == mask_fingerprint(ms)
    log_text = open(tmp_path / "o" / "results.json").read()
    assert "CoOp+R-AMT" in log_text


def test_tip_adapter_ramt_uses_masked_features_everywhere(tmp_path, data_root):
    cfg0 = method_cfg("CoOp", data_root, tmp_path / "x")
    make_mask_run(tmp_path / "ramt", cfg0)
    masked = build(combo_cfg("TipAdapterRAMT", data_root, tmp_path / "o", tmp_path / "ramt"))
    plain = build(method_cfg("TipAdapter", data_root, tmp_path / "p", **{"TRAINER.TIP.AUGMENT_EPOCH": 2}))
    assert torch.equal(masked.text_weights, plain.text_weights)  # text side untouched
    assert not torch.allclose(masked.cache_keys, plain.cache_keys, atol=1e-4)
    fm, _ = masked.split_feats("val", loader=masked.val_loader)
    fp, _ = plain.split_feats("val", loader=plain.val_loader)
    assert not torch.allclose(fm, fp, atol=1e-4)


@pytest.mark.parametrize(
    "key,value",
    [
        ("seed", 7),
        ("shots", 16),
        ("dataset", "OxfordPets"),
        ("backbone", "ViT-B/16"),
        ("layers", ["conv1", "attn", "mlp"]),
        ("split_fingerprint", "deadbeef"),
        ("subsample_classes", "base"),
    ],
)
def test_source_mismatch_raises_naming_both_values(tmp_path, data_root, key, value):
    cfg = method_cfg("CoOpRAMT", data_root, tmp_path / "o", **{"MASK.SOURCE_RUN": str(tmp_path / "ramt")})
    make_mask_run(tmp_path / "ramt", cfg, **{key: value})
    with pytest.raises(MaskSourceError) as e:
        load_source_masks(cfg, load_clip("tiny"), build_dataset(cfg))
    msg = str(e.value)
    assert key in msg and repr(value) in msg and str(tmp_path / "ramt") in msg


def test_layer_selection_mismatch_from_config(tmp_path, data_root):
    cfg = method_cfg("CoOpRAMT", data_root, tmp_path / "o", **{"MASK.SOURCE_RUN": str(tmp_path / "ramt")})
    make_mask_run(tmp_path / "ramt", cfg)
    cfg2 = method_cfg(
        "CoOpRAMT",
        data_root,
        tmp_path / "o",
        **{"MASK.SOURCE_RUN": str(tmp_path / "ramt"), "MASK.LAYERS": ("mlp", "conv1")},
    )
    with pytest.raises(MaskSourceError, match="layers"):
        load_source_masks(cfg2, load_clip("tiny"), build_dataset(cfg2))


def test_missing_source_run_names_path_and_command(tmp_path, data_root):
    missing = tmp_path / "nowhere" / "seed1"
    with pytest.raises(MaskSourceError) as e:
        build(combo_cfg("CoOpRAMT", data_root, tmp_path / "o", missing))
    msg = str(e.value)
    assert str(missing) in msg and "SEEDS=1 bash scripts/ramt/main.sh caltech101 2" in msg
    with pytest.raises(MaskSourceError, match="MASK.SOURCE_RUN is empty"):
        build(combo_cfg("TipAdapterRAMT", data_root, tmp_path / "o", ""))


def test_tampered_masks_are_detected(tmp_path, data_root):
    cfg = method_cfg("CoOpRAMT", data_root, tmp_path / "o", **{"MASK.SOURCE_RUN": str(tmp_path / "ramt")})
    make_mask_run(tmp_path / "ramt", cfg, mask_fingerprint="0123456789abcdef")
    with pytest.raises(MaskSourceError, match="inconsistent"):
        load_source_masks(cfg, load_clip("tiny"), build_dataset(cfg))


def test_joint_mode_trains_masks_and_context(tmp_path, data_root):
    cfg = method_cfg("CoOpRAMT", data_root, tmp_path / "o", **{"COMBO.MODE": "joint"})
    trainer = build(cfg)
    assert trainer.get_model_names() == ["prompt_learner", "shared"]
    mask_opt = trainer._optims["shared"]
    assert isinstance(mask_opt, torch.optim.Adam)
    assert mask_opt.defaults["lr"] == 8e-5 and mask_opt.defaults["weight_decay"] == 0.0
    assert isinstance(trainer._optims["prompt_learner"], torch.optim.SGD)
    flat0 = trainer.tuner.mask_set.flat.detach().clone()
    ctx0 = trainer.prompt_learner.ctx.detach().clone()
    clip0 = snapshot(trainer.clip_model)
    trainer.train()
    assert not torch.equal(trainer.tuner.mask_set.flat.detach(), flat0)
    assert not torch.equal(trainer.prompt_learner.ctx.detach(), ctx0)
    for k, v in trainer.clip_model.state_dict().items():
        assert torch.equal(v, clip0[k]), k
    assert trainer.extra_results["combo_mode"] == "joint"
    assert (tmp_path / "o" / "shared" / "model.pth.tar-1").is_file()


def test_joint_context_gradient_is_plain_ce(tmp_path, data_root):
    """The context gets the CE gradient only (GDR filters the mask gradient, never the context's)."""
    import torch.nn.functional as F

    trainer = build(method_cfg("CoOpRAMT", data_root, tmp_path / "o", **{"COMBO.MODE": "joint"}))
    batch = next(iter(trainer.train_loader_x))
    images, labels = trainer.parse_batch_train(batch)
    ctx = trainer.prompt_learner.ctx
    logits = trainer.logits(trainer.tuner.student(images).float(), trainer.encode_text().float())
    (expected,) = torch.autograd.grad(F.cross_entropy(logits, labels), [ctx])
    trainer._optims["prompt_learner"].step = lambda *a, **k: None  # keep the gradient for inspection
    trainer._optims["shared"].step = lambda *a, **k: None
    trainer.batch_idx, trainer.num_batches = 0, 2
    trainer.forward_backward(batch)
    assert torch.allclose(ctx.grad, expected, atol=1e-6)
    assert trainer.tuner.mask_set.flat.grad is not None


def test_tip_adapter_ramt_official_protocol_searches_masked_test_features(tmp_path, data_root):
    """The protocol options are inherited: SEARCH_SPLIT test and F_EPOCH best_test on the folded encoder."""
    import json

    from ramt.trainers.tip_adapter import search_grid, search_hparams

    cfg0 = method_cfg("CoOp", data_root, tmp_path / "x")
    make_mask_run(tmp_path / "ramt", cfg0)
    opts = {
        "TRAINER.TIP.FINETUNE": True,
        "TRAINER.TIP.TRAIN_EPOCH": 2,
        "TRAINER.TIP.SEARCH_SPLIT": "test",
        "TRAINER.TIP.F_EPOCH": "best_test",
        "TRAINER.TIP.SEARCH_STEP": (10, 5),
    }
    trainer = build(combo_cfg("TipAdapterRAMT", data_root, tmp_path / "o", tmp_path / "ramt", **opts))
    trainer.train()
    feats, labels = trainer.split_feats("test", loader=trainer.test_loader)  # masked features
    zs = 100.0 * feats @ trainer.text_weights.t()
    beta, alpha, _ = search_hparams(
        zs,
        trainer.affinity(feats),
        trainer.cache_values,
        labels,
        search_grid(trainer.search_scale[0], 10),
        search_grid(trainer.search_scale[1], 5),
    )
    res = json.load(open(tmp_path / "o" / "results.json"))
    tip = res["extra"]["tip"]
    assert tip["search_split"] == "test" and res["selection"]["uses_test"]
    if tip["f_epoch"]["reported"] == "searched":
        assert (tip["beta"], tip["alpha"]) == pytest.approx((beta, alpha))
    assert res["metrics"]["accuracy"] == pytest.approx(
        max(tip["f_epoch"]["best_epoch_test_accuracy"], tip["f_epoch"]["searched_test_accuracy"])
    )
    assert res["method"] == "Tip-Adapter-F+R-AMT" and res["extra"]["mask_fingerprint"]


def test_source_run_identity_is_checked(tmp_path, data_root):
    """Masks are reused only from a run recorded on the same weights, split and code (issue 12, item 1)."""
    from ramt.runs import run_identity, write_identity

    cfg = method_cfg("CoOpRAMT", data_root, tmp_path / "o", **{"MASK.SOURCE_RUN": str(tmp_path / "ramt")})
    make_mask_run(tmp_path / "ramt", cfg)
    dataset = build_dataset(cfg)
    ident = run_identity(cfg, split_fingerprint=dataset.split_fingerprint)
    write_identity(str(tmp_path / "ramt"), ident)
    load_source_masks(cfg, load_clip("tiny"), dataset)  # same identity: reused
    write_identity(str(tmp_path / "ramt"), dict(ident, backbone="sha256:" + "0" * 64))
    with pytest.raises(MaskSourceError) as e:
        load_source_masks(cfg, load_clip("tiny"), dataset)
    assert "backbone: recorded 'sha256:000" in str(e.value) and "run.json" in str(e.value)
