#!/usr/bin/env python
"""Digits/tiny: training epochs with and without the decoded-image cache, and the checksum cost.

    python benchmarks/bench_image_cache.py [--shots 16] [--epochs 5] [--repeats 3]

1. R-AMT on Digits with the ``tiny`` backbone, ``--shots`` shots, ``--epochs`` epochs, run in
   this process through ``ramt.train.cli`` with ``DATALOADER.IMAGE_CACHE`` False and True
   (alternating, ``--repeats`` times, the cache warmed first); reported: the median training
   time per epoch (``data`` + ``steps`` of ``results.json`` timing, divided by the epochs).
2. The evaluation cache of the Digits test split (540 images at 224 px): one evaluation pass
   over the cached loader, and the checksum check of all its chunks (what a process pays once).
3. the training loader alone (workers 0), CPU time per epoch with and without the cache.
CPU times (``time.process_time``) are steadier than wall times on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from ramt.data import image_cache  # noqa: E402
from ramt.data.digits import ensure_digits  # noqa: E402
from ramt.train import cli  # noqa: E402


def train_epoch_time(data: str, out: str, cache_dir: str, shots: int, epochs: int, cache: bool) -> float:
    image_cache.clear_open_caches()
    argv = [
        "--root", data, "--seed", "1", "--trainer", "RAMT", "--dataset-config-file", "digits",
        "--config-file", "RAMT/digits_vit_b16", "--output-dir", out, "MODEL.BACKBONE.NAME", "tiny",
        "DATASET.NUM_SHOTS", str(shots), "OPTIM.MAX_EPOCH", str(epochs), "TEST.SPLIT", "val",
        "TRAIN.TENSORBOARD", "False", "DATALOADER.IMAGE_CACHE", str(cache), "CACHE_DIR", cache_dir,
        "DATALOADER.NUM_WORKERS", "0",
    ]  # fmt: skip
    assert cli(argv) == 0
    with open(os.path.join(out, "results.json")) as f:
        timing = json.load(f)["timing"]
    return (timing["data"] + timing["steps"]) / epochs


def loader_epoch_cpu(data: str, cache_dir: str, shots: int, cache: bool, epochs: int) -> float:
    """CPU seconds of one pass over the training loader (workers 0): the part the cache changes."""
    import torch

    from ramt.config import get_cfg_default
    from ramt.data.manager import DataManager

    cfg = get_cfg_default()
    cfg.merge_from_list(["DATASET.ROOT", data, "DATASET.NAME", "Digits", "CACHE_DIR", cache_dir])
    cfg.merge_from_list(["DATASET.NUM_SHOTS", shots, "DATALOADER.IMAGE_CACHE", cache, "SEED", 1])
    cfg.DATALOADER.NUM_WORKERS = 0
    image_cache.clear_open_caches()
    loader = DataManager(cfg).train_loader_x
    torch.manual_seed(0)
    list(loader)  # warm
    t = time.process_time()
    for _ in range(epochs):
        list(loader)
    return (time.process_time() - t) / epochs


def eval_checksum_cost(data: str, cache_dir: str) -> tuple[float, float, int]:
    from ramt.config import get_cfg_default
    from ramt.data.manager import DataManager

    cfg = get_cfg_default()
    cfg.merge_from_list(["DATASET.ROOT", data, "DATASET.NAME", "Digits", "CACHE_DIR", cache_dir])
    cfg.DATALOADER.NUM_WORKERS = 0
    loader = DataManager(cfg).test_loader
    list(loader)  # build
    image_cache.clear_open_caches()
    loader = DataManager(cfg).test_loader
    t = time.process_time()
    list(loader)  # includes the first (and only) check of every chunk
    t_pass = time.process_time() - t
    cache = loader.cache
    cache.verified.clear()
    t = time.process_time()
    cache.verify_all()
    return t_pass, time.process_time() - t, cache.nbytes


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--shots", type=int, default=16)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    work = tempfile.mkdtemp(prefix="bench_image_cache_")
    data, cache_dir = os.path.join(work, "data"), os.path.join(work, "cache")
    ensure_digits(data, verbose=False)
    times: dict[bool, list[float]] = {False: [], True: []}
    for r in range(args.repeats + 1):
        for cache in (False, True):
            dt = train_epoch_time(
                data, os.path.join(work, f"run{r}{cache}"), cache_dir, args.shots, args.epochs, cache
            )
            if r:  # the first round warms the caches
                times[cache].append(dt)
    off, on = statistics.median(times[False]), statistics.median(times[True])
    print(
        f"training epoch ({args.shots} shots x 10 classes): decode {off * 1000:.0f} ms, cache {on * 1000:.0f} ms"
    )
    print(
        f"  all: decode {[round(t * 1000) for t in times[False]]}, cache {[round(t * 1000) for t in times[True]]}"
    )
    cpu = {
        c: [loader_epoch_cpu(data, cache_dir, args.shots, c, args.epochs) for _ in range(args.repeats)]
        for c in (False, True)
    }
    print(
        f"training loader, CPU per epoch: decode {statistics.median(cpu[False]) * 1000:.0f} ms, "
        f"cache {statistics.median(cpu[True]) * 1000:.0f} ms"
    )
    t_pass, t_sum, nbytes = eval_checksum_cost(data, cache_dir)
    print(
        f"evaluation pass over the cached test split (CPU): {t_pass * 1000:.0f} ms; checksum of all "
        f"{nbytes / 2**20:.0f} MiB: {t_sum * 1000:.0f} ms ({nbytes / 2**20 / max(t_sum, 1e-9):.0f} MiB/s)"
    )


if __name__ == "__main__":
    main()
