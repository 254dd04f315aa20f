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


def test_family_role_and_colour_come_from_the_entry():
    from ramt.methods import FAMILY_COLOURS, METHOD_REGISTRY, PALETTE, family_colour, method_for_label

    roles = {
        k: m.role
        for k, m in METHOD_REGISTRY.items()
        if k in ("zsclip", "ramt", "coop", "tip_adapter", "coop_ramt", "tip_adapter_ramt")
    }
    assert roles == {
        "zsclip": "zero-shot",
        "ramt": "mask",
        "coop": "host",
        "tip_adapter": "host",
        "coop_ramt": "combination",
        "tip_adapter_ramt": "combination",
    }
    assert (
        METHOD_REGISTRY["coop_ramt"].host == "coop"
        and METHOD_REGISTRY["tip_adapter_ramt"].host == "tip_adapter"
    )
    assert METHOD_REGISTRY["coop"].colour == FAMILY_COLOURS["CoOp"]
    assert method_for_label("Tip-Adapter-F+R-AMT").family == "Tip-Adapter + mask tuning"
    assert method_for_label("R-AMT (MASK.GDR_LAMBDA=0.9)").key == "ramt"  # a variant row keeps its family
    assert family_colour("A new family") == family_colour("A new family") in PALETTE


def test_default_run_rule_serves_a_plain_new_method(tmp_path):
    """An entry in the old positional form, with no rule of its own, gets the default folder."""
    from ramt.methods import Method, RunRequest, fixed

    probe = Method("probe", ("LinearProbe",), fixed("Probe"), ("Probe",), {}, 2, None, "LinearProbe/vit_b16")
    assert probe.family == "probe" and probe.role == "host"
    opts = ("MODEL.BACKBONE.NAME", "tiny")
    (run,) = probe.runs_for(RunRequest(str(tmp_path), "caltech101", 4, 2, opts))
    assert run.folder == str(tmp_path / "caltech101/LinearProbe/tiny_4shots/seed2")
    assert run.args[:4] == ("--seed", "2", "--trainer", "LinearProbe") and run.source == ""
    combo = Method(
        "probe_ramt",
        ("ProbeRAMT",),
        fixed("P+R-AMT"),
        ("P+R-AMT",),
        config="ProbeRAMT/vit_b16",
        reuses="ramt",
        host="probe",
    )
    (run,) = combo.runs_for(RunRequest(str(tmp_path), "caltech101", 4, 2))
    assert run.folder == str(tmp_path / "caltech101/ProbeRAMT/vit_b16_4shots/seed2")
    assert run.source == str(tmp_path / "caltech101/RAMT/vit_b16_4shots/seed2") == run.args[-1]
    assert combo.role == "combination"


def test_run_dir_command_gives_the_script_folders(tmp_path):
    import os
    import subprocess
    import sys

    env = dict(os.environ, OUTPUT=str(tmp_path), EXP="vit_b16_16shots_amt")

    def run_dir(*words):
        res = subprocess.run(
            [sys.executable, "-m", "ramt.methods", "run-dir", *words], env=env, capture_output=True, text=True
        )
        return res.returncode, res.stdout.split(), res.stderr

    assert run_dir("ramt", "dtd", "16", "3")[1] == [str(tmp_path / "dtd/RAMT/vit_b16_16shots_amt/seed3")]
    assert run_dir("zsclip", "dtd")[1] == [str(tmp_path / "ZeroshotCLIP/vit_b16/dtd")]
    rc, _, err = run_dir("ramt", "dtd", "many", "3")
    assert rc == 2 and err.startswith("ERROR: SHOTS must be a non-negative integer")


def test_no_run_folder_outside_output(tmp_path):
    """EXP and dataset names are single folder names: ``..`` or ``/`` is one ERROR, nothing written."""
    import os
    import subprocess
    import sys

    for env_exp, dataset in (("../../escaped", "dtd"), ("", "../trainers/RAMT/vit_b16")):
        env = dict(os.environ, OUTPUT=str(tmp_path / "out"), EXP=env_exp, PYTHON=sys.executable)
        res = subprocess.run(
            ["bash", "scripts/ramt/main.sh", dataset, "4"], env=env, capture_output=True, text=True
        )
        assert res.returncode == 2 and res.stderr.startswith("ERROR: ") and "Traceback" not in res.stderr
    assert (
        not (tmp_path / "out").exists()
        and list(tmp_path.iterdir()) == []
        or not any(tmp_path.rglob("log.txt"))
    )


def test_generic_combination_follows_its_host_rule(tmp_path):
    """A host + R-AMT entry writes the host's folders under <Host>RAMT, with the R-AMT source run."""
    from ramt.methods import METHOD_REGISTRY, RunRequest

    req = RunRequest(str(tmp_path), "caltech101", 2, 1, ("MODEL.BACKBONE.NAME", "tiny"))
    (host,) = METHOD_REGISTRY["prograd"].runs_for(req)
    (combo,) = METHOD_REGISTRY["prograd_ramt"].runs_for(req)
    assert combo.folder == host.folder.replace("/ProGrad/", "/ProGradRAMT/")
    assert combo.folder.endswith("/caltech101/ProGradRAMT/tiny_ep100_2shots/nctx16_cscFalse_ctpend/seed1")
    args = list(combo.args)
    assert args[args.index("--trainer") + 1] == "ProGradRAMT"
    assert combo.source == str(tmp_path / "caltech101" / "RAMT" / "tiny_2shots" / "seed1")
    assert args[-2:] == ["MASK.SOURCE_RUN", combo.source]
    (amt,) = METHOD_REGISTRY["amt"].runs_for(req)
    assert amt.folder.endswith("/caltech101/RAMT/tiny_2shots_amt/seed1") and amt.args[-2:] == (
        "MASK.GDR",
        "False",
    )


def test_record_only_dataset_is_passed_by_name(tmp_path):
    """A dataset without a shipped yaml (a catalogue record) is given to train.py by name."""
    from ramt.methods import RunRequest

    assert RunRequest(str(tmp_path), "dtd").dataset_args() == (
        "--dataset-config-file",
        "configs/datasets/dtd.yaml",
    )
    assert RunRequest(str(tmp_path), "toyshapes").dataset_args() == ("--dataset-config-file", "toyshapes")
