import pytest

from ramt.masks import (
    VALID_TOKENS,
    MaskSet,
    UnsupportedBackboneError,
    normalize_layers,
    official_mask_key,
    param_name_from_official_key,
    select_mask_targets,
)
from tests.masks._models import VITB16_VISUAL_PARAMS, tiny_clip, tiny_resnet, vitb16_visual_meta


@pytest.fixture(scope="module")
def vitb16():
    return vitb16_visual_meta()


def test_vitb16_parameter_count(vitb16):
    assert sum(p.numel() for p in vitb16.parameters()) == VITB16_VISUAL_PARAMS


@pytest.mark.parametrize(
    "layers,entries",
    [
        (("attn", "conv1"), 28_901_376),
        (("attn",), 28_311_552),
        (("mlp", "conv1"), 57_212_928),
        (("all",), 85_524_480),
        (("conv1",), 589_824),
        (("mlp",), 56_623_104),
    ],
)
def test_vitb16_mask_entries(vitb16, layers, entries):
    names = select_mask_targets(vitb16, layers)
    params = dict(vitb16.named_parameters())
    assert sum(params[n].numel() for n in names) == entries
    assert MaskSet.from_module(vitb16, layers).num_entries == entries


def test_default_order_and_no_biases(vitb16):
    names = select_mask_targets(vitb16, ("attn", "conv1"))
    assert names[:3] == [
        "conv1.weight",
        "transformer.resblocks.0.attn.in_proj_weight",
        "transformer.resblocks.0.attn.out_proj.weight",
    ]
    assert len(names) == 1 + 12 * 2
    assert not any("bias" in n or "ln" in n or n == "proj" for n in names)
    full = select_mask_targets(vitb16, ("all",))
    assert full[1:5] == [
        "transformer.resblocks.0.attn.in_proj_weight",
        "transformer.resblocks.0.attn.out_proj.weight",
        "transformer.resblocks.0.mlp.c_fc.weight",
        "transformer.resblocks.0.mlp.c_proj.weight",
    ]
    # token order does not matter
    assert select_mask_targets(vitb16, ("conv1", "mlp", "attn")) == full


def test_token_validation():
    assert normalize_layers("attn") == ("attn",)
    assert normalize_layers(["ALL"]) == ("conv1", "attn", "mlp")
    with pytest.raises(ValueError) as e:
        normalize_layers(("attn", "mhsa"))
    assert "'mhsa'" in str(e.value)
    for t in VALID_TOKENS:
        assert t in str(e.value)
    with pytest.raises(ValueError):
        normalize_layers(())


def test_resnet_refused():
    with pytest.raises(NotImplementedError) as e:
        select_mask_targets(tiny_resnet(), ("attn", "conv1"))
    assert isinstance(e.value, UnsupportedBackboneError)
    assert "ResNet" in str(e.value) and "ViT" in str(e.value)


def test_small_model_selection():
    visual = tiny_clip().visual
    assert len(select_mask_targets(visual, ("all",))) == 1 + 2 * 4


def test_official_keys_round_trip(vitb16):
    assert official_mask_key("conv1.weight") == "conv1.mask_real"
    assert (
        official_mask_key("transformer.resblocks.3.attn.in_proj_weight")
        == "transformer.resblocks.3.attn.mask_real"
    )
    assert (
        official_mask_key("transformer.resblocks.11.attn.out_proj.weight")
        == "transformer.resblocks.11.attn.out_proj.mask_real"
    )
    assert (
        official_mask_key("transformer.resblocks.0.mlp.c_fc.weight")
        == "transformer.resblocks.0.mlp.c_fc.mask_real"
    )
    assert (
        official_mask_key("transformer.resblocks.0.mlp.c_proj.weight")
        == "transformer.resblocks.0.mlp.c_proj.mask_real"
    )
    names = select_mask_targets(vitb16, ("all",))
    keys = [official_mask_key(n) for n in names]
    assert len(set(keys)) == len(keys)
    assert [param_name_from_official_key(k) for k in keys] == names
    with pytest.raises(ValueError):
        official_mask_key("transformer.resblocks.0.attn.in_proj_bias")
