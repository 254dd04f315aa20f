import torch

from ramt.masks import MaskSet, format_sparsity, sparsity_report
from tests.masks._models import tiny_clip

VIS, CLIP = 86_192_640, 149_620_737


def test_zero_at_init():
    masks = MaskSet.from_module(tiny_clip().visual)
    rep = sparsity_report(masks, VIS, CLIP)
    assert rep["zeros"] == 0 and rep["sparsity"] == 0.0
    assert rep["sparsity_visual"] == 0.0 and rep["sparsity_clip"] == 0.0
    assert rep["total"] == masks.num_entries
    assert all(v["zeros"] == 0 for v in rep["per_tensor"].values())


def test_hand_made_counts():
    names = ["conv1.weight", "transformer.resblocks.0.attn.in_proj_weight"]
    masks = MaskSet(names, [(4, 5), (30,)])
    with torch.no_grad():
        masks.view(names[0])[0, :3] = 0.0  # 3 off
        masks.view(names[0])[1, 0] = 5e-3  # exactly tau: off
        masks.view(names[0])[2, 0] = 5.0001e-3  # on
        masks.view(names[1])[:6] = -0.1  # 6 off
    rep = sparsity_report(masks, visual_params=100, clip_params=200)
    assert rep["zeros"] == 10 and rep["total"] == 50
    assert rep["per_tensor"] == {names[0]: {"zeros": 4, "total": 20}, names[1]: {"zeros": 6, "total": 30}}
    assert rep["sparsity"] == 20.0
    assert rep["sparsity_visual"] == 10.0
    assert rep["sparsity_clip"] == 5.0
    assert format_sparsity(rep) == [
        "=> mask sparsity",
        "* zeros: 10",
        "* sparsity: 20.00%",
        "* sparsity_visual: 10.00%",
        "* sparsity_clip: 5.00%",
    ]


def test_format_with_vitb16_denominators():
    zeros, total = 739_875, 28_901_376
    rep = {
        "zeros": zeros,
        "sparsity": 100 * zeros / total,
        "sparsity_visual": 100 * zeros / VIS,
        "sparsity_clip": 100 * zeros / CLIP,
    }
    assert format_sparsity(rep) == [
        "=> mask sparsity",
        "* zeros: 739,875",
        "* sparsity: 2.56%",
        "* sparsity_visual: 0.86%",
        "* sparsity_clip: 0.49%",
    ]
