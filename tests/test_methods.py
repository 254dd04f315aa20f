"""Method labels from configs, published-name mapping and dataset names."""

from __future__ import annotations

import pytest

from ramt.methods import (
    PAPER_DATASETS,
    PUBLISHED_NAME,
    dataset_config_name,
    method_label,
    paper_dataset_name,
)


def cfg(trainer, gdr=True, layers=("attn", "conv1"), mlp=False, finetune=False):
    return {
        "TRAINER": {"NAME": trainer, "TIP": {"FINETUNE": finetune}},
        "MASK": {"GDR": gdr, "LAYERS": layers, "MASK_MLP": mlp},
    }


@pytest.mark.parametrize(
    "config, label",
    [
        (cfg("ZeroshotCLIP"), "ZeroShotCLIP"),
        (cfg("ZeroshotCLIP2"), "ZeroShotCLIP"),
        (cfg("RAMT"), "R-AMT"),
        (cfg("MaskTuning", layers=["attn"]), "R-AMT"),
        (cfg("RAMT", layers="('attn', 'conv1')"), "R-AMT"),
        (cfg("RAMT", gdr=False), "AMT"),
        (cfg("RAMT", layers=("mlp", "conv1")), "R-MMT"),
        (cfg("RAMT", layers=("mlp",)), "R-MMT"),
        (cfg("RAMT", layers=("all",)), "R-PMT"),
        (cfg("RAMT", mlp=True), "R-PMT"),
        (cfg("CoOp"), "CoOp"),
        (cfg("TipAdapter"), "Tip-Adapter"),
        (cfg("TipAdapter", finetune=True), "Tip-Adapter-F"),
        (cfg("CoOpRAMT"), "CoOp+R-AMT"),
        (cfg("TipAdapterRAMT"), "Tip-Adapter+R-AMT"),
        (cfg("TipAdapterRAMT", finetune=True), "Tip-Adapter-F+R-AMT"),
        ({"TRAINER": {"NAME": "RAMT"}}, "R-AMT"),  # defaults: GDR on, attn + conv1
    ],
)
def test_method_label(config, label):
    assert method_label(config) == label


def test_published_names():
    assert PUBLISHED_NAME["Tip-Adapter-F"] == "Tip-Adapter"
    assert PUBLISHED_NAME["Tip-Adapter-F+R-AMT"] == "Tip-Adapter+R-AMT"
    for same in ("ZeroShotCLIP", "R-AMT", "AMT", "CoOp", "CoOp+R-AMT"):
        assert PUBLISHED_NAME[same] == same
    assert "Tip-Adapter" not in PUBLISHED_NAME  # the training-free variant has no published row


def test_dataset_names():
    assert paper_dataset_name("OxfordFlowers") == "Flowers102"
    assert paper_dataset_name("DescribableTextures") == "DTD"
    assert paper_dataset_name("dtd") == "DTD"
    assert paper_dataset_name("Digits") == "Digits"
    assert dataset_config_name("OxfordFlowers") == "oxford_flowers" == dataset_config_name("Flowers102")
    assert len(PAPER_DATASETS) == 11 and PAPER_DATASETS[4] == "Flowers102"


def test_registry_is_the_one_source():
    from ramt.methods import METHOD_ORDER, METHOD_REGISTRY, Method, register_method, with_masks
    from ramt.sweep import COMBINATIONS, METHODS

    # Every shipped trainer name belongs to exactly one entry; derived values follow the entries.
    trainers = [t for m in METHOD_REGISTRY.values() for t in m.trainers]
    assert len(trainers) == len(set(trainers))
    assert METHOD_ORDER == tuple(label for m in METHOD_REGISTRY.values() for label in m.labels)
    assert all(PUBLISHED_NAME[k] == v for m in METHOD_REGISTRY.values() for k, v in m.published.items())
    assert METHODS[:2] == ("zsclip", "ramt") and {
        "coop_ramt",
        "tip_adapter_ramt",
        "vpt_ramt",
        "upt_ramt",
    } <= set(COMBINATIONS)
    # A trainer cannot belong to two methods, nor a key to two trainer sets.
    with pytest.raises(ValueError, match="already belongs"):
        register_method(Method("other", ("CoOp",), with_masks("X"), ("X+R-AMT",)))
    with pytest.raises(ValueError, match="already registered"):
        register_method(Method("coop", ("NotCoOp",), with_masks("X"), ("X",)))
    assert "other" not in METHOD_REGISTRY
