import numpy as np
import pytest
import torch

from ramt.masks import (
    MaskSet,
    load_official_masks_,
    load_packed_masks_,
    mask_fingerprint,
    pack_bits,
    pack_masks,
    packed_nbytes,
    select_mask_targets,
    unpack_bits,
    unpack_masks,
)
from tests.masks._models import tiny_clip, vitb16_visual_meta

# odd sizes: 3*5*7 = 105 and 11 entries are not multiples of 8
NAMES = [
    "conv1.weight",
    "transformer.resblocks.0.attn.in_proj_weight",
    "transformer.resblocks.0.attn.out_proj.weight",
]
SHAPES = [(3, 5, 7), (11,), (8, 2)]


def _random_maskset(seed=0, shapes=SHAPES, layers=("attn", "conv1")):
    ms = MaskSet(NAMES, shapes, layers=layers)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        ms.flat.copy_(torch.rand(ms.num_entries, generator=g) * 1e-2)
    return ms


def test_pack_bits_msb_first_zero_padded():
    b = torch.tensor([1, 0, 0, 0, 0, 0, 0, 1, 1], dtype=torch.bool)
    packed = pack_bits(b)
    assert packed.dtype == np.uint8
    assert packed.tolist() == [0b10000001, 0b10000000]
    assert torch.equal(unpack_bits(packed, (9,)), b)


@pytest.mark.parametrize("shape", [(3, 5), (13,), (4, 6, 2), (1,), (2, 3, 4, 5)])
def test_pack_unpack_round_trip_matches_numpy(shape):
    g = torch.Generator().manual_seed(sum(shape))
    b = torch.rand(shape, generator=g) > 0.5
    packed = pack_bits(b)
    assert np.array_equal(packed, np.packbits(b.numpy().reshape(-1)))
    assert packed.size == packed_nbytes(b.numel())
    back = unpack_bits(packed, shape)
    assert back.dtype == torch.bool and back.shape == b.shape
    assert torch.equal(back, b)
    assert torch.equal(unpack_bits(torch.from_numpy(packed), shape), b)
    assert torch.equal(unpack_bits(packed.tobytes(), shape), b)
    with pytest.raises(ValueError):
        unpack_bits(packed[:-1], shape)


def test_payload_round_trip_via_weights_only_file(tmp_path):
    src = _random_maskset(0)
    payload = pack_masks(src, backbone="ViT-B/16", epoch=30)
    assert [m["key"] for m in payload["masks"]] == [
        "conv1.mask_real",
        "transformer.resblocks.0.attn.mask_real",
        "transformer.resblocks.0.attn.out_proj.mask_real",
    ]
    binary = src.binary()
    for m in payload["masks"]:
        assert m["bits"].dtype == torch.uint8
        assert np.array_equal(m["bits"].numpy(), np.packbits(binary[m["name"]].numpy().reshape(-1)))
    assert payload["total"] == src.num_entries == 105 + 11 + 16
    assert payload["zeros"] == int((src.flat <= src.threshold).sum())
    path = tmp_path / "masks.pth"
    torch.save(payload, path)
    loaded = torch.load(path, weights_only=True)
    dst = MaskSet(NAMES, SHAPES)
    load_packed_masks_(dst, loaded)
    assert set(torch.unique(dst.flat.detach()).tolist()) <= {0.0, 1.0}
    for name, b in dst.binary().items():
        assert torch.equal(b, binary[name]), name
    assert mask_fingerprint(dst) == mask_fingerprint(src)
    for name, b in unpack_masks(loaded).items():
        assert torch.equal(b, binary[name])
    # a restored set packs to the same bytes
    again = pack_masks(dst, backbone="ViT-B/16", epoch=30)
    for a, b in zip(again["masks"], payload["masks"]):
        assert torch.equal(a["bits"], b["bits"])


def test_load_rejects_mismatch():
    payload = pack_masks(_random_maskset(1))
    with pytest.raises(ValueError, match="MASK.LAYERS"):
        load_packed_masks_(MaskSet(NAMES, [(3, 5, 7), (11,), (4, 4)]), payload)
    with pytest.raises(ValueError, match="do not fit"):
        load_packed_masks_(MaskSet(NAMES[:2], SHAPES[:2]), payload)
    small = MaskSet.from_module(tiny_clip().visual)
    with pytest.raises(ValueError, match="do not fit"):
        load_packed_masks_(small, payload)
    with pytest.raises(ValueError, match="format"):
        load_packed_masks_(small, {"masks": []})


def test_official_bytes_format():
    src = _random_maskset(2)
    sd = {m["key"]: m["bits"].numpy().tobytes() for m in pack_masks(src)["masks"]}
    dst = MaskSet(NAMES, SHAPES)
    load_official_masks_(dst, sd)
    assert torch.equal(dst.binary_flat(), src.binary_flat())
    del sd["conv1.mask_real"]
    with pytest.raises(ValueError, match="missing"):
        load_official_masks_(dst, sd)


def test_vitb16_default_payload_size():
    visual = vitb16_visual_meta()
    names = select_mask_targets(visual, ("attn", "conv1"))
    shapes = [visual.get_parameter(n).shape for n in names]
    assert sum(packed_nbytes(int(np.prod(s))) for s in shapes) == 3_612_672
    masks = MaskSet(names, shapes, device="cpu")
    payload = pack_masks(masks)
    assert sum(m["bits"].numel() for m in payload["masks"]) == 3_612_672
    assert payload["total"] == 28_901_376 and payload["zeros"] == 0
