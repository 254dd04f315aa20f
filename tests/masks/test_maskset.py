import pytest
import torch
import torch.nn.functional as F

from ramt.masks import (
    MaskedWeight,
    MaskSet,
    fold_masks_,
    folded_copy,
    mask_fingerprint,
    masked_forward,
    masked_weights,
)
from tests.masks._models import logits, tiny_clip

TAU = 5e-3


@pytest.fixture(scope="module")
def model():
    return tiny_clip()


@pytest.fixture(scope="module")
def images():
    return torch.randn(4, 3, 224, 224, generator=torch.Generator().manual_seed(1))


def _snapshot(module):
    return {k: v.clone() for k, v in module.state_dict().items()}


def _assert_same_state(module, snap):
    state = module.state_dict()
    assert state.keys() == snap.keys()
    for k, v in snap.items():
        assert torch.equal(state[k], v), k


# ------------------------------------------------------------------ STE
def test_ste_gradient_is_grad_out_times_weight():
    g = torch.Generator().manual_seed(0)
    w = torch.randn(5, 7, generator=g)
    m = torch.full((5, 7), 1e-2).requires_grad_(True)
    with torch.no_grad():
        m[0, 0] = 0.004  # off
        m[1, 2] = TAU  # exactly tau: off (M <= tau)
        m[2, 3] = 0.0051  # on
        m[3, 4] = -1.0  # off
    x = torch.randn(3, 7, generator=g)
    r = torch.randn(3, 5, generator=g)
    w_eff = MaskedWeight.apply(w, m, TAU)
    b = (m.detach() > TAU).float()
    assert torch.equal(w_eff, w * b)
    assert b[0, 0] == 0 and b[1, 2] == 0 and b[2, 3] == 1 and b[3, 4] == 0
    (x @ w_eff.t() * r).sum().backward()
    grad_weff = r.t() @ x  # dL/dW_eff for L = sum(r * (x W_eff^T))
    torch.testing.assert_close(m.grad, grad_weff * w, rtol=1e-6, atol=1e-7)
    # switched-off entries still receive gradient
    for i, j in [(0, 0), (1, 2), (3, 4)]:
        assert m.grad[i, j] != 0
        torch.testing.assert_close(m.grad[i, j], grad_weff[i, j] * w[i, j])


def test_ste_weight_gradient_when_requested_and_dtypes():
    w = torch.randn(4, 4, requires_grad=True)
    m = torch.full((4, 4), 1e-2)
    m[0] = 0.0
    m.requires_grad_(True)
    out = MaskedWeight.apply(w, m, TAU)
    out.backward(torch.ones_like(out))
    assert torch.equal(w.grad, (m.detach() > TAU).float())
    assert torch.equal(m.grad, w.detach())
    # bf16 weight, fp32 mask: effective weight in bf16, mask gradient in fp32
    wb = torch.randn(3, 3).bfloat16()
    mb = torch.full((3, 3), 1e-2, requires_grad=True)
    ob = MaskedWeight.apply(wb, mb, TAU)
    assert ob.dtype == torch.bfloat16 and torch.equal(ob, wb)
    ob.float().sum().backward()
    assert mb.grad.dtype == torch.float32
    assert torch.equal(mb.grad, wb.float())


# ------------------------------------------------------------------ step 0
def test_step0_masked_forward_equals_plain(model, images):
    visual = model.visual
    masks = MaskSet.from_module(visual)
    assert bool(masks.binary_flat().all())
    text = F.normalize(torch.randn(10, 32, generator=torch.Generator().manual_seed(2)), dim=-1)
    with torch.no_grad():
        teacher = visual(images)
        student = masked_forward(visual, masks, images)
    assert torch.equal(student, teacher)
    assert torch.equal(logits(student, text), logits(teacher, text))
    # with autograd on (the training path) the student is still exactly the plain forward
    # computed on the same kernel path (weights requiring grad, like the masked ones)
    plain_grad = tiny_clip(frozen=False).visual
    masks_g = MaskSet.from_module(plain_grad)
    out = masked_forward(plain_grad, masks_g, images)
    assert out.requires_grad
    assert torch.equal(out, plain_grad(images))
    torch.testing.assert_close(out.detach(), teacher, rtol=1e-5, atol=1e-5)


def test_masked_forward_leaves_weights_and_reaches_flat(model, images):
    visual = model.visual
    snap = _snapshot(visual)
    masks = MaskSet.from_module(visual, layers=("all",))
    with torch.no_grad():
        masks.flat[::3] = 0.0
    out = masked_forward(visual, masks, images)
    out.pow(2).sum().backward()
    _assert_same_state(visual, snap)
    assert masks.flat.grad is not None and masks.flat.grad.dtype == torch.float32
    for name, g in zip(masks.names, masks.segments(masks.flat.grad)):
        assert g.abs().sum() > 0, name
    assert all(p.grad is None for p in visual.parameters())


def test_views_share_storage_and_metadata(model):
    masks = MaskSet.from_module(model.visual, layers=("attn", "conv1"))
    views = masks.views()
    assert list(views) == masks.names
    for name, v in views.items():
        assert v.shape == model.visual.get_parameter(name).shape
        assert v.dtype == torch.float32
    assert masks.offsets[0] == 0 and sum(masks.numels) == masks.num_entries
    with torch.no_grad():
        views[masks.names[2]].zero_()
    i = masks.offsets[2]
    assert masks.flat[i : i + masks.numels[2]].abs().sum() == 0
    assert torch.equal(masks.view(masks.names[2]), views[masks.names[2]])
    assert list(masks.state_dict()) == ["flat"]


def test_uniform_init_reproducible(model):
    a = MaskSet.from_module(model.visual, init="uniform", generator=torch.Generator().manual_seed(3))
    b = MaskSet.from_module(model.visual, init="uniform", generator=torch.Generator().manual_seed(3))
    assert torch.equal(a.flat, b.flat)
    assert float(a.flat.detach().min()) >= 0.0 and float(a.flat.detach().max()) < 1e-2
    assert 0.4 < float((a.flat.detach() > TAU).float().mean()) < 0.6
    with pytest.raises(ValueError):
        MaskSet.from_module(model.visual, init="ones")


# ------------------------------------------------------------------ zeroing, folding
def test_entry_below_threshold_zeroes_exactly_that_weight(model):
    visual = model.visual
    masks = MaskSet.from_module(visual, layers=("all",))
    name = "transformer.resblocks.1.mlp.c_fc.weight"
    with torch.no_grad():
        masks.view(name)[3, 5] = 0.0
        masks.view(name)[7, 1] = TAU
    eff = masked_weights(visual, masks)
    for n, w_eff in eff.items():
        w = visual.get_parameter(n)
        diff = w_eff != w
        if n == name:
            assert diff.sum() == 2 and diff[3, 5] and diff[7, 1]
            assert w_eff[3, 5] == 0 and w_eff[7, 1] == 0
        else:
            assert not diff.any(), n


def test_folding_matches_masked_forward(model, images):
    visual = model.visual
    snap = _snapshot(visual)
    masks = MaskSet.from_module(visual, layers=("all",))
    folded_ones = folded_copy(visual, masks)
    with torch.no_grad():
        plain = visual(images)
        assert torch.equal(folded_ones(images), plain)
        gen = torch.Generator().manual_seed(4)
        masks.flat[torch.rand(masks.num_entries, generator=gen) < 0.05] = 0.0
        student = masked_forward(visual, masks, images)
        folded = folded_copy(visual, masks)
        assert torch.equal(folded(images), student)
        assert not torch.allclose(student, plain)
    _assert_same_state(visual, snap)  # folded_copy does not touch the original
    fstate = folded.state_dict()
    binary = masks.binary()
    for k, v in snap.items():
        if k in binary:
            assert torch.equal(fstate[k] != v, (~binary[k]) & (v != 0)), k
            assert torch.equal(fstate[k], v * binary[k])
        else:
            assert torch.equal(fstate[k], v), k
    # in-place variant
    copy_ = tiny_clip().visual
    assert fold_masks_(copy_, masks) is copy_
    for k, v in copy_.state_dict().items():
        assert torch.equal(v, fstate[k])


# ------------------------------------------------------------------ norm loss
def test_norm_loss_matches_per_view_norms(model):
    masks = MaskSet.from_module(
        model.visual, layers=("all",), init="uniform", generator=torch.Generator().manual_seed(5)
    )
    expected = sum(torch.linalg.norm(v.detach().flatten()) for v in masks.views().values())
    loss = masks.norm_loss()
    assert loss.dtype == torch.float32
    torch.testing.assert_close(loss, expected, rtol=1e-6, atol=0)
    loss.backward()
    for v, g in zip(masks.views().values(), masks.segments(masks.flat.grad)):
        torch.testing.assert_close(g, v.detach() / torch.linalg.norm(v.detach()), rtol=1e-5, atol=1e-9)


def test_norm_loss_unsquared_and_zero_tensor_safe(model):
    masks = MaskSet.from_module(model.visual)
    # init '1s': each tensor's norm is 0.01 * sqrt(numel)
    expected = sum(1e-2 * n**0.5 for n in masks.numels)
    torch.testing.assert_close(masks.norm_loss().item(), expected, rtol=1e-5, atol=0)
    with torch.no_grad():
        masks.view(masks.names[0]).zero_()
    masks.norm_loss().backward()
    assert torch.isfinite(masks.flat.grad).all()
    assert masks.segments(masks.flat.grad)[0].abs().sum() == 0


# ------------------------------------------------------------------ autocast, fingerprint
def test_autocast_bf16_keeps_masks_fp32(model, images):
    visual = model.visual
    masks = MaskSet.from_module(visual)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = masked_forward(visual, masks, images[:2])
        with torch.no_grad():
            ref = visual(images[:2])
    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(out.float(), ref.float(), rtol=0, atol=0)
    out.float().sum().backward()
    assert masks.flat.dtype == torch.float32 and masks.flat.grad.dtype == torch.float32
    assert torch.isfinite(masks.flat.grad).all() and masks.flat.grad.abs().sum() > 0


def test_fingerprint_tracks_binary_state(model):
    masks = MaskSet.from_module(model.visual)
    fp0 = mask_fingerprint(masks)
    assert len(fp0) == 16 and int(fp0, 16) >= 0
    with torch.no_grad():
        masks.flat.mul_(2.0)  # real values change, binary does not
    assert mask_fingerprint(masks) == fp0
    with torch.no_grad():
        masks.flat[123] = 0.0
    assert mask_fingerprint(masks) != fp0
