"""The generic R-AMT-on-top composition: any host (shipped or plugin) on a finished R-AMT run's masks."""

import pytest
import torch

import ramt.methods as methods
from ramt.clip import load_clip
from ramt.clip.visual_prompts import inserted_prompts
from ramt.masks import mask_fingerprint, masked_forward
from ramt.registry import TRAINER_REGISTRY
from ramt.trainers._masked import SourceMasks
from ramt.trainers.compose import combination_trainer
from ramt.trainers.tip_adapter import TipAdapter
from ramt.trainers.zsclip import ZeroshotCLIP
from tests.fixtures.trainer_fixtures import build, method_cfg, snapshot
from tests.trainers.test_combos import assert_folded, make_mask_run


@pytest.fixture
def clean_registries():
    """Undo registrations made by a test (trainers, methods, declared combinations)."""
    saved = (
        dict(TRAINER_REGISTRY._obj_map),
        dict(methods.METHOD_REGISTRY),
        dict(methods._BY_TRAINER),
        dict(methods.COMBINED_HOSTS),
    )
    yield
    for current, old in zip(
        (TRAINER_REGISTRY._obj_map, methods.METHOD_REGISTRY, methods._BY_TRAINER, methods.COMBINED_HOSTS),
        saved,
    ):
        current.clear()
        current.update(old)


def host_cfg(host, root, out, run_dir, **opts):
    cfg = method_cfg(host, root, out, **{"MASK.SOURCE_RUN": str(run_dir), **opts})
    cfg.TRAINER.NAME = host + "RAMT"
    return cfg


def test_combination_is_derived_on_lookup_for_a_plugin_host(tmp_path, data_root, clean_registries):
    @TRAINER_REGISTRY.register()
    class ToyHost(ZeroshotCLIP):
        """A plugin host: zero-shot CLIP under another name."""

    assert "ToyHostRAMT" not in TRAINER_REGISTRY
    cls = TRAINER_REGISTRY.get("ToyHostRAMT")
    assert cls.__mro__[1:3] == (SourceMasks, ToyHost) and combination_trainer(ToyHost) is cls
    ms = make_mask_run(tmp_path / "ramt", method_cfg("ZeroshotCLIP", data_root, tmp_path / "x"))
    cfg = host_cfg("ZeroshotCLIP", data_root, tmp_path / "o", tmp_path / "ramt")
    cfg.TRAINER.NAME = "ToyHostRAMT"
    trainer = build(cfg)
    assert_folded(trainer.image_encoder, ms)
    assert trainer.encoder_id == f"ramt:{mask_fingerprint(ms)}"
    trainer.test()
    assert trainer.extra_results["mask_fingerprint"] == mask_fingerprint(ms)

    # Its method entry: one call next to the host.
    methods.register_method(
        methods.Method("toy", ("ToyHost",), methods.fixed("Toy"), ("Toy",), config="ZeroshotCLIP/vit_b16")
    )
    methods.register_combination("toy")
    combo = methods.METHOD_REGISTRY["toy_ramt"]
    assert combo.trainers == ("ToyHostRAMT",) and combo.reuses == "ramt" and combo.stage == 3
    assert combo.config == "ZeroshotCLIP/vit_b16" and combo.script == "scripts/combination.sh toy_ramt"
    assert combo.host == "toy" and methods.method_label({"TRAINER": {"NAME": "ToyHostRAMT"}}) == "Toy+R-AMT"


def test_declared_hosts_get_their_combination_when_registered(clean_registries):
    """linear_probe / cocoop / prograd (methods_a) get theirs the moment they are registered."""
    methods.METHOD_REGISTRY.pop("linear_probe", None)
    methods.METHOD_REGISTRY.pop("linear_probe_ramt", None)
    host = methods.Method(
        "linear_probe",
        ("LinearProbeCLIPX",),
        methods.fixed("Linear-probe CLIP"),
        ("Linear-probe CLIP",),
        config="LinearProbeCLIP/vit_b16",
    )
    methods.register_method(host)
    combo = methods.METHOD_REGISTRY["linear_probe_ramt"]
    assert combo.trainers == ("LinearProbeCLIPXRAMT",) and combo.labels == ("Linear-probe CLIP+R-AMT",)
    assert combo.label({"MASK": {"GDR": False}}) == "Linear-probe CLIP+AMT"
    for key in ("vpt_ramt", "upt_ramt"):
        assert methods.METHOD_REGISTRY[key].script == f"scripts/combination.sh {key}"


def test_tip_adapter_ramt_is_the_generic_composition():
    cls = TRAINER_REGISTRY.get("TipAdapterRAMT")
    assert cls is combination_trainer("TipAdapter") and cls.__mro__[1:3] == (SourceMasks, TipAdapter)
    with pytest.raises(ValueError, match="cannot host R-AMT's masks"):
        combination_trainer("RAMT")


def test_vpt_host_keeps_the_folded_masks_frozen(tmp_path, data_root):
    ms = make_mask_run(tmp_path / "ramt", method_cfg("VPT", data_root, tmp_path / "x"))
    trainer = build(host_cfg("VPT", data_root, tmp_path / "o", tmp_path / "ramt"))
    assert type(trainer).__name__ == "VPTRAMT"
    assert_folded(trainer.image_encoder, ms)
    assert not any(p.requires_grad for p in trainer.image_encoder.parameters())
    x = torch.randn(2, 3, 224, 224)
    plain = load_clip("tiny").visual
    prompts = [p.detach() for p in trainer.prompt_learner()]
    with torch.no_grad():
        feats = trainer.encode_image(x, prompts)
        with inserted_prompts(plain, prompts):  # the masked forward, with the same prompts
            masked = masked_forward(plain, ms, x)
            unmasked = plain(x)
    assert torch.allclose(feats, masked, atol=1e-4) and not torch.allclose(feats, unmasked, atol=1e-3)
    enc0, pl0 = snapshot(trainer.image_encoder), snapshot(trainer.prompt_learner)
    trainer.train()
    assert all(torch.equal(v, enc0[k]) for k, v in snapshot(trainer.image_encoder).items())
    assert all(not torch.equal(v, pl0[k]) for k, v in snapshot(trainer.prompt_learner).items())
    assert trainer.extra_results["mask_fingerprint"] == mask_fingerprint(ms)
    assert trainer.get_model_names() == ["prompt_learner"]


def test_upt_host_runs_on_the_folded_encoder(tmp_path, data_root):
    ms = make_mask_run(tmp_path / "ramt", method_cfg("UPT", data_root, tmp_path / "x"))
    opts = {"TRAINER.UPT.DIM": 64, "TRAINER.UPT.HEADS": 2}
    trainer = build(host_cfg("UPT", data_root, tmp_path / "o", tmp_path / "ramt", **opts))
    assert type(trainer).__name__ == "UPTRAMT"
    assert_folded(trainer.image_encoder, ms)
    assert not any(p.requires_grad for p in trainer.image_encoder.parameters())


def test_new_rows_meet_their_published_rows():
    """Runs of VPT and UPT are compared with the published VPT-deep / UPT rows (the report's lookup)."""
    from ramt.published import published_value

    for trainer, label in (("VPT", "VPT-deep"), ("UPT", "UPT")):
        assert methods.method_label({"TRAINER": {"NAME": trainer}}) == label
        assert published_value(methods.PUBLISHED_NAME[label], "Caltech101", 16) is not None
    assert methods.method_label({"TRAINER": {"NAME": "VPTRAMT"}}) == "VPT-deep+R-AMT"
