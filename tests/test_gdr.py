import math

import pytest
import torch
import torch.nn.functional as F

from ramt.gdr import gdr_mask_gradient, gradient_dropout, keep_probability, soft_target_ce

N = 200_000


def _gen(seed):
    return torch.Generator().manual_seed(seed)


def test_worked_example():
    g_a, g_b = torch.tensor([0.2]), torch.tensor([-0.6])
    torch.testing.assert_close(keep_probability(g_a, g_b), torch.tensor([0.25]))
    assert gradient_dropout(g_a, g_b, 1.0, u=torch.tensor([0.2])).item() == pytest.approx(0.2)
    assert gradient_dropout(g_a, g_b, 1.0, u=torch.tensor([0.3])).item() == 0.0
    out = gradient_dropout(g_a.expand(N).contiguous(), g_b.expand(N).contiguous(), 1.0, generator=_gen(0))
    kept = (out != 0).double().mean().item()
    assert abs(kept - 0.25) < 4 * math.sqrt(0.25 * 0.75 / N)


def test_agreeing_signs_always_kept():
    g = _gen(1)
    g_a = (torch.rand(N, generator=g) * 0.9 + 0.1) * torch.where(torch.rand(N, generator=g) < 0.5, -1.0, 1.0)
    g_b = g_a * (torch.rand(N, generator=g) * 5 + 0.01)
    for seed in range(5):
        assert torch.equal(gradient_dropout(g_a, g_b, 1.0, generator=_gen(seed)), g_a)


def test_conflicting_signs_kept_with_ratio_probability():
    g = _gen(2)
    g_a = torch.rand(N, generator=g) * 2 - 1
    g_b = -torch.sign(g_a) * torch.rand(N, generator=g) * 2
    p = g_a.abs() / (g_a.abs() + g_b.abs())
    torch.testing.assert_close(keep_probability(g_a, g_b), p, rtol=1e-5, atol=1e-6)
    out = gradient_dropout(g_a, g_b, 1.0, generator=_gen(3))
    kept = out != 0
    assert torch.equal(out[kept], g_a[kept])
    p64 = p.double()
    mean, sd = p64.sum().item(), (p64 * (1 - p64)).sum().sqrt().item()
    assert abs(kept.double().sum().item() - mean) < 4 * sd
    # and in bins of P (the probability really follows |g_a| / (|g_a| + |g_b|))
    for lo, hi in [(0.05, 0.15), (0.45, 0.55), (0.85, 0.95)]:
        sel = (p >= lo) & (p < hi)
        n = int(sel.sum())
        frac = kept[sel].double().mean().item()
        pm = p64[sel].mean().item()
        assert abs(frac - pm) < 4 * math.sqrt(pm * (1 - pm) / n) + 0.01


def test_leaky_lambda_scales_dropped_entries_exactly():
    g = _gen(4)
    g_a = torch.randn(N, generator=g)
    g_b = -g_a * 2
    u = torch.rand(N, generator=g)
    out = gradient_dropout(g_a, g_b, 0.3, u=u)
    keep = keep_probability(g_a, g_b) > u
    assert keep.any() and (~keep).any()
    assert torch.equal(out[keep], g_a[keep])
    assert torch.equal(out[~keep], g_a[~keep] * 0.7)
    assert torch.allclose(out[~keep], 0.7 * g_a[~keep])


def test_lambda_zero_returns_g_a_and_rng_use_independent_of_lambda():
    g_a, g_b = torch.randn(1000, generator=_gen(5)), torch.randn(1000, generator=_gen(6))
    gen0, gen1 = _gen(7), _gen(7)
    assert gradient_dropout(g_a, g_b, 0.0, generator=gen0) is g_a
    gradient_dropout(g_a, g_b, 1.0, generator=gen1)
    assert torch.equal(gen0.get_state(), gen1.get_state())
    # same seed, same draws
    a = gradient_dropout(g_a, g_b, 1.0, generator=_gen(8))
    b = gradient_dropout(g_a, g_b, 1.0, generator=_gen(8))
    assert torch.equal(a, b)
    with pytest.raises(ValueError):
        gradient_dropout(g_a, g_b, 1.5)


@pytest.mark.parametrize("T", [1.0, 2.0])
def test_soft_target_ce_gradient_equals_kl(T):
    g = _gen(9)
    z = (torch.randn(8, 10, generator=g) * 3).requires_grad_(True)
    z0 = (torch.randn(8, 10, generator=g) * 3).requires_grad_(True)
    loss = soft_target_ce(z, z0, T)
    (g_ce,) = torch.autograd.grad(loss, z)
    p0 = F.softmax(z0.detach() / T, dim=-1)
    zk = z.detach().clone().requires_grad_(True)
    kl = F.kl_div(F.log_softmax(zk / T, dim=-1), p0, reduction="batchmean") * T * T
    (g_kl,) = torch.autograd.grad(kl, zk)
    torch.testing.assert_close(g_ce, g_kl, rtol=1e-5, atol=1e-7)
    entropy = -(p0 * p0.log()).sum(-1).mean() * T * T
    torch.testing.assert_close(loss.detach(), kl.detach() + entropy, rtol=1e-5, atol=1e-6)
    # the teacher is a constant
    loss2 = soft_target_ce(z, z0, T)
    assert torch.autograd.grad(loss2, z0, allow_unused=True)[0] is None


def test_soft_target_ce_is_fp32():
    z = torch.randn(4, 5).bfloat16()
    assert soft_target_ce(z, z).dtype == torch.float32


def test_gdr_mask_gradient_matches_manual():
    g = _gen(10)
    flat = torch.randn(50, generator=g).requires_grad_(True)
    a, b = torch.randn(50, generator=g), torch.randn(50, generator=g)

    def losses():
        h = flat * flat
        return (h * a).sum(), (h * b).sum()

    lt, lr = losses()
    out = gdr_mask_gradient(lt, lr, flat, 1.0, generator=_gen(11))
    ga, gb = 2 * flat.detach() * a, 2 * flat.detach() * b
    torch.testing.assert_close(out, gradient_dropout(ga, gb, 1.0, generator=_gen(11)))
    lt, lr = losses()
    with pytest.raises(FloatingPointError):
        gdr_mask_gradient(lt * float("nan"), lr, flat, 1.0)
