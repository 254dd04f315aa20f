"""End-to-end mask training steps on the small model: AMT (plain) and R-AMT (GDR)."""

import torch
import torch.nn.functional as F

from ramt.gdr import gdr_mask_gradient, soft_target_ce
from ramt.masks import MaskSet, masked_forward, sparsity_report
from tests.masks._models import logits, tiny_clip


def _setup(seed=0):
    model = tiny_clip(seed)
    g = torch.Generator().manual_seed(seed + 10)
    text = F.normalize(torch.randn(5, 32, generator=g), dim=-1)
    x = torch.randn(6, 3, 224, 224, generator=g)
    y = torch.randint(0, 5, (6,), generator=g)
    return model, text, x, y


def _snapshot(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_amt_steps_change_masks_only():
    model, text, x, y = _setup()
    snap = _snapshot(model)
    masks = MaskSet.from_module(model.visual)
    init = masks.flat.detach().clone()
    opt = torch.optim.Adam([masks.flat], lr=1e-3, weight_decay=0.0)
    for _ in range(3):
        z = logits(masked_forward(model.visual, masks, x), text)
        loss = F.cross_entropy(z, y) + 1e-4 * masks.norm_loss()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    delta = masks.flat.detach() - init
    assert (delta != 0).float().mean() > 0.5
    # Adam moves each entry by about lr per step, in both directions
    assert (delta > 0).any() and (delta < 0).any()
    state = model.state_dict()
    for k, v in snap.items():
        assert torch.equal(state[k], v), k
    assert all(p.grad is None for p in model.parameters())


def test_amt_switches_weights_off_with_large_lr():
    model, text, x, y = _setup(1)
    masks = MaskSet.from_module(model.visual)
    opt = torch.optim.Adam([masks.flat], lr=4e-3)
    for _ in range(3):
        z = logits(masked_forward(model.visual, masks, x), text)
        loss = F.cross_entropy(z, y) + 1e-4 * masks.norm_loss()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert sparsity_report(masks, 1, 1)["zeros"] > 0


def test_gdr_step_lambda0_equals_amt_gradient_and_lambda1_differs():
    model, text, x, y = _setup(2)
    masks = MaskSet.from_module(model.visual)
    with torch.no_grad():  # move away from step 0 so that student != teacher
        masks.flat[torch.rand(masks.num_entries, generator=torch.Generator().manual_seed(0)) < 0.1] = 0.0

    def losses():
        z = logits(masked_forward(model.visual, masks, x), text)
        with torch.no_grad():
            z0 = logits(model.visual(x), text)
        return F.cross_entropy(z, y) + 1e-4 * masks.norm_loss(), soft_target_ce(z, z0)

    loss_a, _ = losses()
    (g_amt,) = torch.autograd.grad(loss_a, masks.flat)
    loss_a, loss_kl = losses()
    g0 = gdr_mask_gradient(loss_a, loss_kl, masks.flat, 0.0)
    assert torch.equal(g0, g_amt)
    loss_a, loss_kl = losses()
    g1 = gdr_mask_gradient(loss_a, loss_kl, masks.flat, 1.0, generator=torch.Generator().manual_seed(3))
    dropped = g1 != g_amt
    assert dropped.any()
    assert torch.equal(g1[dropped], torch.zeros_like(g1[dropped]))
    assert torch.equal(g1[~dropped], g_amt[~dropped])
    masks.flat.grad = g1
    before = masks.flat.detach().clone()
    torch.optim.Adam([masks.flat], lr=1e-3).step()
    assert not torch.equal(before, masks.flat.detach())
