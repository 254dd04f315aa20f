#!/usr/bin/env python
"""Evaluation time with and without per-image predictions (Digits test split, tiny backbone).

"with": the engine's evaluator (top-5, NLL, calibration kept on the device, one transfer at the
end) plus writing ``predictions.npz`` and ``results.json``. "without": an accuracy-only evaluator
as before predictions existed (argmax per batch) and ``results.json`` alone. Both evaluate the
same zero-shot tiny CLIP on the 540-image test split with the feature cache off, so every pass
runs the image encoder; the two are interleaved and the median of ``--repeats`` passes is kept.

    python benchmarks/bench_predictions.py --data /tmp/ramt_data --repeats 7
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import statistics
import sys
import tempfile
import time
from collections import OrderedDict

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from ramt import record  # noqa: E402
from ramt.config import get_cfg_default, merge_from_file  # noqa: E402
from ramt.data.digits import ensure_digits  # noqa: E402
from ramt.engine.evaluator import Classification  # noqa: E402
from ramt.registry import TRAINER_REGISTRY  # noqa: E402


class AccuracyOnly(Classification):
    """The evaluator before predictions: argmax and a host count per batch, nothing kept."""

    def reset(self) -> None:
        super().reset()
        self._correct = 0
        self._total = 0

    def process(self, output: torch.Tensor, gt: torch.Tensor) -> None:
        self._correct += int(output.argmax(1).eq(gt).sum().item())
        self._total += int(gt.shape[0])

    def evaluate(self) -> OrderedDict:
        return OrderedDict(accuracy=100.0 * self._correct / max(self._total, 1))


def build_trainer(data: str, out: str, device: str):
    import ramt.trainers  # noqa: F401  (registers the trainers)

    cfg = get_cfg_default()
    merge_from_file(cfg, os.path.join(ROOT, "configs/datasets/digits.yaml"))
    merge_from_file(cfg, os.path.join(ROOT, "configs/trainers/ZeroshotCLIP/vit_b16.yaml"))
    cfg.DATASET.ROOT = data
    cfg.OUTPUT_DIR = out
    cfg.TRAINER.NAME = "ZeroshotCLIP"
    cfg.MODEL.BACKBONE.NAME = "tiny"
    cfg.SPEED.FEATURE_CACHE = False
    cfg.DATALOADER.NUM_WORKERS = 0
    cfg.USE_CUDA = device == "cuda"
    cfg.VERBOSE = False
    torch.manual_seed(1)
    return TRAINER_REGISTRY.get(cfg.TRAINER.NAME)(cfg, eval_only=True)


def one_pass(trainer, evaluator) -> float:
    """Seconds for one test evaluation and writing its files."""
    trainer.evaluator = evaluator
    if os.path.exists(os.path.join(trainer.output_dir, record.PREDICTIONS_FILE)):
        os.remove(os.path.join(trainer.output_dir, record.PREDICTIONS_FILE))
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    trainer.test()
    trainer.write_results()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - t0


def evaluator_pass(trainer, evaluator, batches) -> float:
    """Seconds for the evaluator alone (process every batch, evaluate, write the files) on fixed logits."""
    trainer.evaluator = evaluator
    t0 = time.perf_counter()
    evaluator.reset()
    for logits, labels in batches:
        evaluator.process(logits, labels)
    trainer.last_results = dict(evaluator.evaluate(), split="test")
    trainer.write_results()
    return time.perf_counter() - t0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=os.path.join(tempfile.gettempdir(), "ramt_bench_data"))
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results", "bench_predictions.json"))
    args = p.parse_args(argv)
    ensure_digits(args.data, verbose=False)
    with tempfile.TemporaryDirectory() as run_dir:
        trainer = build_trainer(args.data, run_dir, args.device)
        with_p = Classification(trainer.cfg, lab2cname=trainer.lab2cname)
        without = AccuracyOnly(trainer.cfg, lab2cname=trainer.lab2cname)
        one_pass(trainer, with_p)  # warm-up (data, kernels)
        one_pass(trainer, without)
        times: dict[str, list[float]] = {"with": [], "without": []}
        for _ in range(args.repeats):  # interleaved: a load change hits both
            times["without"].append(one_pass(trainer, without))
            times["with"].append(one_pass(trainer, with_p))
        assert os.path.isfile(os.path.join(run_dir, record.PREDICTIONS_FILE)), "predictions were not written"
        n = int(trainer.timing["n_eval_images"]) // (2 * args.repeats + 2)
        with torch.no_grad():
            trainer.before_test("test")
            batches = [(lg.clone(), lb.clone()) for lg, lb in trainer.predict(trainer.test_loader, "test")]
        ev_times: dict[str, list[float]] = {"with": [], "without": []}
        with contextlib.redirect_stdout(io.StringIO()):
            for _ in range(5 * args.repeats):
                ev_times["without"].append(evaluator_pass(trainer, without, batches))
                ev_times["with"].append(evaluator_pass(trainer, with_p, batches))
    med = {k: statistics.median(v) for k, v in times.items()}
    res = {
        "device": args.device,
        "torch_threads": torch.get_num_threads(),
        "test_images": n,
        "repeats": args.repeats,
        "median_s": med,
        "all_s": times,
        "overhead_pct": 100.0 * (med["with"] / med["without"] - 1.0),
        "evaluator_only_median_s": {k: statistics.median(v) for k, v in ev_times.items()},
    }
    print(
        f"Digits/tiny test split ({n} images, {args.device}): without predictions {med['without']:.3f} s, "
        f"with {med['with']:.3f} s (median of {args.repeats}); overhead {res['overhead_pct']:+.1f}%"
    )
    ev = res["evaluator_only_median_s"]
    print(
        f"evaluator alone on the same logits (process + evaluate + write): without {1000 * ev['without']:.1f} ms, "
        f"with {1000 * ev['with']:.1f} ms"
    )
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(res, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
