"""Fabricated run folders (log.txt in CoOp's format and/or results.json) for the report tests."""

from __future__ import annotations

import json
from pathlib import Path

from yacs.config import CfgNode as CN

REGISTRY = {
    "caltech101": "Caltech101",
    "oxford_flowers": "OxfordFlowers",
    "digits": "Digits",
    "imagenet": "ImageNet",
    "imagenetv2": "ImageNetV2",
    "imagenet_sketch": "ImageNetSketch",
}


def make_cfg(
    trainer,
    dataset_cfg,
    shots,
    seed,
    backbone="ViT-B/16",
    subsample="all",
    finetune=False,
    gdr=True,
    layers=("attn", "conv1"),
    output_dir="",
    search_split="val_fewshot",
    f_epoch="last",
):
    return {
        "DATASET": {
            "NAME": REGISTRY[dataset_cfg],
            "NUM_SHOTS": shots,
            "SUBSAMPLE_CLASSES": subsample,
            "ROOT": "",
        },
        "MODEL": {"BACKBONE": {"NAME": backbone, "PATH": ""}, "INIT_WEIGHTS": ""},
        "TRAINER": {
            "NAME": trainer,
            "TIP": {
                "FINETUNE": finetune,
                "SEARCH_SCALE": (7.0, 3.0),
                "SEARCH_SPLIT": search_split,
                "F_EPOCH": f_epoch,
            },
        },
        "MASK": {"GDR": gdr, "LAYERS": tuple(layers), "MASK_MLP": False, "THRESHOLD": 5e-3, "INIT": "1s"},
        "OPTIM": {"LR": 8e-5, "NAME": "adam", "EMPTY": {}},
        "SEED": seed,
        "OUTPUT_DIR": output_dir,
    }


def _to_cn(d):
    node = CN()
    for k, v in d.items():
        node[k] = _to_cn(v) if isinstance(v, dict) else v
    return node


def log_text(
    cfg, *, result=None, trained=True, sparsity=None, elapsed="0:41:07", eval_only=False, crashed=False
):
    lines = [f"Setting fixed seed: {cfg['SEED']}", "***************", "** Arguments **", "***************"]
    dcfg = {v: k for k, v in REGISTRY.items()}[cfg["DATASET"]["NAME"]]
    lines += [
        f"dataset_config_file: configs/datasets/{dcfg}.yaml",
        f"eval_only: {eval_only}",
        "opts: ['DATASET.NUM_SHOTS', '16']",
    ]
    lines += ["************", "** Config **", "************", str(_to_cn(cfg))]
    lines += ["Collecting env info ...", "** System info **", "PyTorch version: 2.4", ""]
    lines += [f"Loading trainer: {cfg['TRAINER']['NAME']}", f"Loading dataset: {cfg['DATASET']['NAME']}"]
    if trained:
        lines += ["No checkpoint found, train from scratch"]
        lines += ["=> mask sparsity", "* zeros: 0", "* sparsity: 0.00%"] if sparsity else []
        for ep in (1, 2):
            lines.append(
                f"epoch [{ep}/2] batch [5/5] time 0.210 (0.480) data 0.001 (0.150) loss 1.2345 (1.4567) "
                f"acc 71.8750 (65.0000) lr 1.0000e-05 eta 0:00:01"
            )
        lines += [
            "Evaluate on the *val* set",
            "=> result",
            "* total: 40",
            "* correct: 10",
            "* accuracy: 25.00%",
            "* error: 75.00%",
            "* macro_f1: 20.00%",
        ]
        if crashed:
            return (
                "\n".join(lines) + "\nTraceback (most recent call last):\nRuntimeError: CUDA out of memory\n"
            )
        lines += ["Checkpoint saved to x/model.pth.tar-2", "Finish training", "Deploy the last-epoch model"]
    else:
        lines.append("Note that load_model() is skipped as no pretrained model is given")
        if crashed:
            return "\n".join(lines) + "\n"
    lines += [
        "Evaluate on the *test* set",
        "=> result",
        "* total: 2,465",
        "* correct: 2,300",
        f"* accuracy: {result:.2f}%",
        f"* error: {100 - result:.2f}%",
        f"* macro_f1: {result - 1:.2f}%",
    ]
    if sparsity:
        lines += [
            "=> mask sparsity",
            "* zeros: 739,875",
            f"* sparsity: {sparsity:.2f}%",
            "* sparsity_visual: 0.86%",
            "* sparsity_clip: 0.49%",
        ]
    lines.append(f"Elapsed: {elapsed}")
    return "\n".join(lines) + "\n"


def write_run(folder: Path, cfg, *, result=None, json_result=None, log=True, **log_kw):
    """A run folder: log.txt (result ``result``, or crashed if None) and, with json_result, results.json."""
    folder.mkdir(parents=True, exist_ok=True)
    if log:
        crashed = result is None
        folder.joinpath("log.txt").write_text(
            log_text(cfg, result=result if result is not None else 0.0, crashed=crashed, **log_kw)
        )
    if json_result is not None:
        from ramt.methods import method_label, paper_dataset_name  # noqa: F401

        data = {
            "format": 1,
            "trainer": cfg["TRAINER"]["NAME"],
            "method": method_label(cfg),
            "dataset": cfg["DATASET"]["NAME"],
            "dataset_config": folder.parts[-4] if len(folder.parts) > 4 else "",
            "shots": cfg["DATASET"]["NUM_SHOTS"],
            "seed": cfg["SEED"],
            "backbone": cfg["MODEL"]["BACKBONE"]["NAME"],
            "subsample_classes": cfg["DATASET"]["SUBSAMPLE_CLASSES"],
            "split": "test",
            "eval_only": False,
            "metrics": {
                "accuracy": json_result,
                "error_rate": 100 - json_result,
                "macro_f1": json_result - 1,
            },
            "sparsity": {"zeros": 123, "sparsity": 2.5, "sparsity_visual": 0.8, "sparsity_clip": 0.5},
            "elapsed_s": 812.3,
            "output_dir": str(folder),
            "config": cfg,
            "finished_at": "2024-01-01T00:00:00",
        }
        folder.joinpath("results.json").write_text(json.dumps(data))
    return folder


# A sweep-like tree for the figures and the HTML page: published-like numbers plus seed noise.
_SWEEP_ROWS = {
    # folder part, trainer, extra make_cfg kwargs, offset from the published R-AMT cell
    "R-AMT": ("RAMT/vit_b16_{k}shots", "RAMT", {}, -0.4),
    "AMT": ("RAMT/vit_b16_{k}shots_amt", "RAMT", {"gdr": False}, -0.9),
    "CoOp": ("CoOp/vit_b16_{k}shots/nctx16_cscFalse_ctpend", "CoOp", {}, -2.5),
    "Tip-Adapter": ("TipAdapter/vit_b16_{k}shots/tip", "TipAdapter", {}, -3.5),
    "Tip-Adapter-F": ("TipAdapter/vit_b16_{k}shots/tipf", "TipAdapter", {"finetune": True}, -2.0),
    "Tip-Adapter-F official": (
        "TipAdapter/vit_b16_{k}shots/tipf_official",
        "TipAdapter",
        {"finetune": True, "search_split": "val", "f_epoch": "best_test"},
        -1.5,
    ),
}
_SWEEP_BASE = {"caltech101": (89.0, 97.0), "oxford_flowers": (76.0, 98.2), "imagenet": (69.0, 73.1)}


def fabricate_sweep(out: Path, shots=(1, 2, 4, 8, 16), seeds=(1, 2, 3)) -> Path:
    """Few-shot curves for 6 rows x 3 datasets (one crashed seed), zero-shot, base-to-new and DG runs."""
    import math

    for d, (one, sixteen) in _SWEEP_BASE.items():
        write_run(
            out / "ZeroshotCLIP/vit_b16" / d,
            make_cfg("ZeroshotCLIP", d, -1, 1),
            result=one - 20 if d != "imagenet" else 66.7,
            trained=False,
            eval_only=True,
        )
        for i, (label, (folder, trainer, kw, offset)) in enumerate(_SWEEP_ROWS.items()):
            for k in shots:
                base = one + (sixteen - one) * math.log2(k) / 4 + offset
                if d == "imagenet" and kw.get("search_split") == "val":
                    kw = dict(kw, search_split="test")  # the official choice on ImageNet
                for s in seeds:
                    acc = base + 0.35 * ((s * 7 + i * 3 + k) % 5 - 2) / 2
                    crashed = (label, d, k, s) == ("CoOp", "caltech101", 16, 3)
                    write_run(
                        out / d / folder.format(k=k) / f"seed{s}",
                        make_cfg(trainer, d, k, s, **kw),
                        result=None if crashed else round(acc, 2),
                        elapsed=f"0:{10 + k:02d}:00",
                    )
    for (d, sub), accs in {
        ("caltech101", "base"): [98.0, 98.4, 98.2],
        ("caltech101", "new"): [94.0, 95.0, 94.6],
        ("oxford_flowers", "base"): [97.0, 97.2, 97.6],
        ("oxford_flowers", "new"): [75.0, 76.0, 75.2],
    }.items():
        for s, acc in enumerate(accs, 1):
            for trainer, off in (("RAMT", 0.0), ("CoOp", -3.0)):
                write_run(
                    out / "base2new" / sub / d / trainer / f"seed{s}",
                    make_cfg(trainer, d, 16, s, subsample=sub),
                    result=acc + off,
                    trained=sub == "base",
                    eval_only=sub == "new",
                )
    for s in seeds:
        for target, drop in (("imagenetv2", 7.0), ("imagenet_sketch", 23.0)):
            for trainer, off in (("RAMT", 0.0), ("CoOp", -1.5)):
                write_run(
                    out / "evaluation" / trainer / target / f"seed{s}",
                    make_cfg(trainer, target, 16, s),
                    result=72.0 + off - drop + 0.2 * s,
                    trained=False,
                    eval_only=True,
                )
    return out
