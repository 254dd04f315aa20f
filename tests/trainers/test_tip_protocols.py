"""Tip-Adapter's official selection protocols as options, on the fixed features of the tiny CLIP.

The official code (``gaopengcuhk/Tip-Adapter``) searches (beta, alpha) on the full val split (on
test for ImageNet), keeps the Tip-F epoch that is best on test (initial beta/alpha, first strict
maximum) and reports max(best-epoch accuracy, searched accuracy). ``official_search`` and
``official_logits`` below restate its loops independently of the trainer's vectorised code.
"""

import json

import pytest
import torch

from ramt.trainers.tip_adapter import BEST_TEST_FILE, FULL_VAL, is_new_best, search_grid
from tests.fixtures.trainer_fixtures import build, method_cfg

FAST = {"TRAINER.TIP.AUGMENT_EPOCH": 1, "TRAINER.TIP.SEARCH_STEP": (20, 5)}


@pytest.fixture
def root(tmp_path, make_coop_dataset):
    # 5 val images per class: the full val split (15) differs from the few-shot val (min(K, 4) = 2 per class).
    make_coop_dataset(tmp_path / "data", name="caltech101", n_classes=3, n_train=4, n_val=5, n_test=4)
    return tmp_path / "data"


def tip_cfg(root, out, **opts):
    return method_cfg("TipAdapter", root, out, **{**FAST, **opts})


def official_logits(feats, text, affinity, values, alpha, beta):
    return 100.0 * feats @ text.t() + ((-1) * (beta - beta * affinity)).exp() @ values * alpha


def official_search(trainer, feats, labels):
    """The official ``search_hp``: beta outer, alpha inner, ``acc > best_acc`` starting from 0."""
    betas = search_grid(trainer.search_scale[0], trainer.search_step[0])
    alphas = search_grid(trainer.search_scale[1], trainer.search_step[1])
    best_acc, best = 0.0, (0.0, 0.0)
    for beta in betas:
        for alpha in alphas:
            logits = official_logits(
                feats, trainer.text_weights, trainer.affinity(feats), trainer.cache_values, alpha, beta
            )
            acc = 100.0 * float((logits.argmax(1) == labels).float().mean())
            if acc > best_acc:
                best_acc, best = acc, (beta, alpha)
    return best


def spy_splits(trainer):
    seen = []
    original = trainer.split_features

    def spy(split, *a, **k):
        seen.append(split)
        return original(split, *a, **k)

    trainer.split_features = spy
    return seen


@pytest.mark.parametrize("split", ["val", "test"])
def test_search_split_reproduces_the_official_search(tmp_path, root, split):
    trainer = build(tip_cfg(root, tmp_path / "o", **{"TRAINER.TIP.SEARCH_SPLIT": split}))
    seen = spy_splits(trainer)
    hp = trainer.search()
    expected_split = FULL_VAL if split == "val" else "test"
    assert seen == [expected_split]
    feats, labels = trainer.split_feats(
        expected_split, loader=trainer.test_loader if split == "test" else None
    )
    if split == "val":
        assert len(labels) == 15 and len(trainer.dm.dataset.val) == 6  # the full split, not the few-shot one
        assert {d.impath for d in trainer.dm.dataset.val} < {d.impath for d in trainer.full_val_items}
    beta, alpha = official_search(trainer, feats, labels)
    assert (hp["beta"], hp["alpha"]) == pytest.approx((beta, alpha))
    assert hp["search_split"] == ("val_full" if split == "val" else "test")
    assert hp["selection"]["uses_test"] == (split == "test")


def test_full_val_search_needs_a_val_split(tmp_path, root):
    trainer = build(tip_cfg(root, tmp_path / "o", **{"TRAINER.TIP.SEARCH_SPLIT": "val"}))
    trainer.dm.dataset.read_lists = lambda: ([], [], [])
    with pytest.raises(ValueError, match="SEARCH_SPLIT test"):
        trainer.search()


def test_new_best_rule_is_first_strict_maximum():
    best, kept = None, None
    for epoch, acc in enumerate([50.0, 62.5, 62.5, 55.0, 62.5], start=1):
        if is_new_best(acc, best):
            best, kept = acc, epoch
    assert (kept, best) == (2, 62.5)
    assert is_new_best(0.0, None)  # an epoch is always kept, even at 0 %


def test_tip_f_best_test_epoch_and_reported_max(tmp_path, root, capsys):
    out = tmp_path / "o"
    cfg = tip_cfg(
        root,
        out,
        **{
            "TRAINER.TIP.FINETUNE": True,
            "TRAINER.TIP.TRAIN_EPOCH": 4,
            "TRAINER.TIP.LR": 0.05,
            "TRAINER.TIP.SEARCH_SPLIT": "val",
            "TRAINER.TIP.F_EPOCH": "best_test",
        },
    )
    trainer = build(cfg)
    test_feats, test_labels = trainer.split_feats("test", loader=trainer.test_loader)
    per_epoch = []  # (test accuracy with the initial beta/alpha, adapter weight) after every epoch
    original = trainer.after_epoch

    def record():
        w = trainer.adapter.weight.detach().clone()
        logits = official_logits(
            test_feats,
            trainer.text_weights,
            test_feats @ w.t(),
            trainer.cache_values,
            trainer.init_alpha,
            trainer.init_beta,
        )
        per_epoch.append((100.0 * float((logits.argmax(1) == test_labels).float().mean()), w))
        original()

    trainer.after_epoch = record
    trainer.train()
    accs = [a for a, _ in per_epoch]
    assert len(accs) == 4
    best_epoch = max(range(4), key=lambda i: (accs[i], -i))  # first maximum
    assert not torch.equal(per_epoch[0][1], per_epoch[-1][1])
    assert torch.equal(trainer.adapter.weight.detach(), per_epoch[best_epoch][1])  # deployed = best on test
    # Official: search on the full val split with the best adapter, then report max(best, searched).
    _, val_feats, val_labels = trainer.search_split_features()
    beta, alpha = official_search(trainer, val_feats, val_labels)
    logits = official_logits(
        test_feats, trainer.text_weights, trainer.affinity(test_feats), trainer.cache_values, alpha, beta
    )
    searched = 100.0 * float((logits.argmax(1) == test_labels).float().mean())
    res = json.load(open(out / "results.json"))
    assert res["metrics"]["accuracy"] == pytest.approx(max(accs[best_epoch], searched))
    rec = res["extra"]["tip"]["f_epoch"]
    assert rec["best_epoch"] == best_epoch + 1
    assert rec["best_epoch_test_accuracy"] == pytest.approx(accs[best_epoch])
    assert rec["searched_test_accuracy"] == pytest.approx(searched)
    assert res["selection"]["name"] == "official" and res["selection"]["uses_test"]  # Caltech101: full val
    assert (out / BEST_TEST_FILE).is_file()
    # Evaluation only (--eval-only --model-dir): the best-on-test adapter is deployed again, not the last.
    again = build(cfg)
    again.load_model(str(out))
    assert torch.equal(again.adapter.weight.detach(), per_epoch[best_epoch][1])
    log = capsys.readouterr().out
    assert "Deploy the Tip-F epoch best on *test*" in log and "Deploy the last-epoch model" not in log


def test_official_names_and_default_guard(tmp_path, root):
    from ramt.selection import selection_protocol

    cfg = tip_cfg(root, tmp_path / "o", **{"TRAINER.TIP.FINETUNE": True})
    assert selection_protocol(cfg)["name"] == "default" and not selection_protocol(cfg)["uses_test"]
    cfg.TRAINER.TIP.SEARCH_SPLIT, cfg.TRAINER.TIP.F_EPOCH = "val", "best_test"
    assert selection_protocol(cfg)["name"] == "official"
    cfg.DATASET.NAME = "ImageNet"
    assert selection_protocol(cfg)["name"] == "custom"  # ImageNet's official search is on test
    cfg.TRAINER.TIP.SEARCH_SPLIT = "test"
    assert selection_protocol(cfg)["name"] == "official" and selection_protocol(cfg)["uses_test"]


class NeverIterate:
    def __iter__(self):
        raise AssertionError("the test split was read before the final evaluation")

    def __len__(self):
        raise AssertionError("the test split was read before the final evaluation")


def test_default_tip_f_never_reads_test_before_the_final_evaluation(tmp_path, root):
    out = tmp_path / "o"
    trainer = build(tip_cfg(root, out, **{"TRAINER.TIP.FINETUNE": True, "TRAINER.TIP.TRAIN_EPOCH": 2}))
    seen = spy_splits(trainer)
    real = trainer.dm.test_loader
    trainer.dm.__dict__["test_loader"] = NeverIterate()
    trainer.before_train()
    for epoch in range(trainer.start_epoch, trainer.max_epoch):
        trainer.epoch = epoch
        trainer.before_epoch()
        trainer.run_epoch()
        trainer.after_epoch()
    trainer.hparams = trainer.search()
    assert "test" not in seen and not (out / BEST_TEST_FILE).exists()
    trainer.dm.__dict__["test_loader"] = real


@pytest.mark.parametrize(
    "opts, match",
    [
        ({"TRAINER.TIP.SEARCH_SPLIT": "full"}, "SEARCH_SPLIT must be one of"),
        ({"TRAINER.TIP.F_EPOCH": "best"}, "F_EPOCH must be one of"),
        (
            {"TRAINER.TIP.FINETUNE": True, "TRAINER.TIP.F_EPOCH": "best_test", "TRAINER.TIP.SELECT": "val"},
            "both choose the Tip-F epoch",
        ),
    ],
)
def test_bad_protocol_values(tmp_path, root, opts, match):
    with pytest.raises(ValueError, match=match):
        build(tip_cfg(root, tmp_path / "o", **opts))
