import math

import pytest
import torch

from ramt.config import get_cfg_default
from ramt.engine.optim import build_lr_scheduler, build_optimizer, scheduled_lr


def _coop_cfg(max_epoch):
    cfg = get_cfg_default()
    cfg.OPTIM.NAME = "sgd"
    cfg.OPTIM.LR = 0.002
    cfg.OPTIM.MAX_EPOCH = max_epoch
    cfg.OPTIM.LR_SCHEDULER = "cosine"
    cfg.OPTIM.WARMUP_EPOCH = 1
    cfg.OPTIM.WARMUP_TYPE = "constant"
    cfg.OPTIM.WARMUP_CONS_LR = 1e-5
    return cfg


@pytest.mark.parametrize(
    "T,expected",
    [
        (
            200,
            {
                0: 1.0e-05,
                1: 2.0e-03,
                2: 1.9999e-03,
                3: 1.9995e-03,
                100: 1.0157e-03,
                198: 1.1101e-06,
                199: 4.9344e-07,
            },
        ),
        (
            100,
            {
                0: 1.0e-05,
                1: 2.0e-03,
                2: 1.9995e-03,
                3: 1.9980e-03,
                50: 1.0314e-03,
                98: 4.4380e-06,
                99: 1.9733e-06,
            },
        ),
        (
            50,
            {
                0: 1.0e-05,
                1: 2.0e-03,
                2: 1.9980e-03,
                3: 1.9921e-03,
                25: 1.0628e-03,
                48: 1.7713e-05,
                49: 7.8853e-06,
            },
        ),
    ],
)
def test_coop_lr_sequence_matches_published_table(T, expected):
    cfg = _coop_cfg(T)
    p = torch.nn.Parameter(torch.zeros(1))
    opt = build_optimizer([p], cfg.OPTIM)
    sched = build_lr_scheduler(opt, cfg.OPTIM)
    seen = {}
    for e in range(T):
        seen[e] = opt.param_groups[0]["lr"]
        sched.step()
    for e, lr in expected.items():
        assert f"{seen[e]:.4e}" == f"{lr:.4e}", (e, seen[e], lr)


def test_ramt_cosine_no_warmup():
    lrs = [scheduled_lr(e, 8e-5, 30, "cosine") for e in range(30)]
    assert lrs[0] == pytest.approx(8e-5)
    assert f"{lrs[1]:.4e}" == "7.9781e-05"
    assert f"{lrs[29]:.2e}" == "2.19e-07"


def test_linear_warmup_and_steps():
    assert (
        scheduled_lr(0, 0.1, 10, "cosine", warmup_epoch=2, warmup_type="linear", warmup_min_lr=1e-5) == 1e-5
    )
    assert scheduled_lr(1, 0.1, 10, "cosine", warmup_epoch=2, warmup_type="linear") == pytest.approx(0.05)
    assert scheduled_lr(2, 0.1, 10, "cosine", warmup_epoch=2) == pytest.approx(0.1)
    assert scheduled_lr(5, 0.1, 10, "single_step", stepsize=(3,), gamma=0.5) == pytest.approx(0.05)
    assert scheduled_lr(5, 0.1, 10, "multi_step", stepsize=(2, 4, 8), gamma=0.1) == pytest.approx(0.001)
    assert scheduled_lr(9, 0.1, 10, "single_step", stepsize=(-1,)) == pytest.approx(0.1)


def test_scheduler_state_is_plain_and_round_trips(tmp_path):
    cfg = _coop_cfg(50)
    p = torch.nn.Parameter(torch.zeros(1))
    opt = build_optimizer([p], cfg.OPTIM)
    sched = build_lr_scheduler(opt, cfg.OPTIM)
    for _ in range(7):
        sched.step()
    torch.save(sched.state_dict(), tmp_path / "s.pt")
    state = torch.load(tmp_path / "s.pt", weights_only=True)
    opt2 = build_optimizer([torch.nn.Parameter(torch.zeros(1))], cfg.OPTIM)
    sched2 = build_lr_scheduler(opt2, cfg.OPTIM)
    sched2.load_state_dict(state)
    assert opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"]
    assert state["last_epoch"] == 7
    assert math.isclose(opt.param_groups[0]["lr"], 0.001 * (1 + math.cos(math.pi * 6 / 50)))


def test_optimizer_names_and_errors():
    cfg = get_cfg_default()
    p = [torch.nn.Parameter(torch.zeros(2))]
    for name, cls in [("adam", torch.optim.Adam), ("adamw", torch.optim.AdamW), ("sgd", torch.optim.SGD)]:
        cfg.OPTIM.NAME = name
        assert isinstance(build_optimizer(p, cfg.OPTIM), cls)
    cfg.OPTIM.NAME = "lion"
    with pytest.raises(ValueError, match="lion"):
        build_optimizer(p, cfg.OPTIM)


# Hand-computed: base 0.002, cosine over T = 10 epochs, 1 constant warm-up epoch at 1e-5.
# WARMUP_RECOUNT True: epoch k >= 1 uses 0.001 * (1 + cos(pi (k - 1) / 10)).
# WARMUP_RECOUNT False (Dassl): the cosine counts the warm-up epoch but starts from the base lr,
# so epoch k >= 1 uses 0.002 * (1 + cos(pi k / 10)) / (1 + cos(pi / 10)); e.g. epoch 2:
# 0.002 * 1.809017 / 1.951057 = 1.854397e-3.
RECOUNT_TABLE = {
    True: [
        1e-5,
        2.0e-3,
        1.9510565e-3,
        1.8090170e-3,
        1.5877853e-3,
        1.3090170e-3,
        1.0e-3,
        6.9098301e-4,
        4.1221475e-4,
        1.9098301e-4,
    ],
    False: [
        1e-5,
        2.0e-3,
        1.8543973e-3,
        1.6276158e-3,
        1.3418545e-3,
        1.0250856e-3,
        7.0831675e-4,
        4.2255541e-4,
        1.9577393e-4,
        5.0171262e-5,
    ],
}


@pytest.mark.parametrize("recount", [True, False])
def test_warmup_recount_against_hand_computed_table(recount):
    cfg = _coop_cfg(10)
    cfg.OPTIM.WARMUP_RECOUNT = recount
    p = torch.nn.Parameter(torch.zeros(1))
    opt = build_optimizer([p], cfg.OPTIM)
    sched = build_lr_scheduler(opt, cfg.OPTIM)
    seen = []
    for _ in range(10):
        seen.append(opt.param_groups[0]["lr"])
        sched.step()
    assert seen == pytest.approx(RECOUNT_TABLE[recount], rel=1e-6)


def _chained_torch_lrs(make_successor, warmup_epoch, cons_lr, base_lr, epochs):
    """Dassl's construction with WARMUP_RECOUNT False, run with torch's own (recursive) schedulers:
    the successor's counter is set to the warm-up length, a constant warm-up precedes it, and the
    successor steps once per epoch after the warm-up."""
    import warnings

    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=base_lr)
    successor = make_successor(opt)
    successor.last_epoch = warmup_epoch
    lrs = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for k in range(epochs):
            if k < warmup_epoch:
                opt.param_groups[0]["lr"] = cons_lr
            elif k == warmup_epoch:
                opt.param_groups[0]["lr"] = successor.get_last_lr()[0]
            else:
                successor.step()
            lrs.append(opt.param_groups[0]["lr"])
    return lrs


@pytest.mark.parametrize(
    "scheduler,make",
    [
        ("cosine", lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, 20.0)),
        ("single_step", lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=4, gamma=0.5)),
        ("multi_step", lambda o: torch.optim.lr_scheduler.MultiStepLR(o, milestones=[3, 6, 11], gamma=0.5)),
    ],
)
def test_no_recount_matches_chained_torch_schedulers(scheduler, make):
    cfg = _coop_cfg(20)
    cfg.OPTIM.LR_SCHEDULER = scheduler
    cfg.OPTIM.STEPSIZE = (4,) if scheduler == "single_step" else (3, 6, 11)
    cfg.OPTIM.GAMMA = 0.5
    cfg.OPTIM.WARMUP_EPOCH = 2
    cfg.OPTIM.WARMUP_RECOUNT = False
    p = torch.nn.Parameter(torch.zeros(1))
    opt = build_optimizer([p], cfg.OPTIM)
    sched = build_lr_scheduler(opt, cfg.OPTIM)
    ours = []
    for _ in range(20):
        ours.append(opt.param_groups[0]["lr"])
        sched.step()
    assert ours == pytest.approx(_chained_torch_lrs(make, 2, 1e-5, 0.002, 20), rel=1e-9)
