#!/usr/bin/env python
"""Time a small sweep end to end: separate processes vs worker mode, JPEG decoding vs the image cache.

    python benchmarks/bench_sweep.py --backbone tiny --device cpu         # CPU, a few minutes
    python benchmarks/bench_sweep.py --backbone ViT-B/16 --device cuda    # GPU (random weights)

What it does, in a work folder (``--work``, default ``benchmarks/results/sweep-<backbone>-<device>``):

1. writes synthetic datasets in CoOp's layout with JPEGs at the real datasets' image sizes
   (``benchmarks/synthetic_data.py``); ``--imagenet`` adds 16-shot ImageNet at full test size;
2. times one pass over each test set through the decode path (``DataLoader`` + PIL, the config's
   workers) and through the decoded-image cache (built first, its build timed separately):
   ``cached evaluation vs decode`` is the ratio of the two images/s;
3. runs the same sweep (R-AMT plus one combination, ``--seeds``) twice through
   ``python -m ramt.sweep``: one process per job, then ``--worker`` (one process per dataset),
   each with a fresh cache folder, and prints the wall times, their ratio and the breakdown into
   setup / data / steps / evaluation from every run's ``results.json`` ("other" is the rest:
   process start, imports, planning);
4. times the CoOp step at two class counts (``bench_step.py``'s ``coop*`` case) and extrapolates
   the wall time of the full 16-shot table (6 methods x 11 datasets x 3 seeds) in worker mode
   from the measured per-step, per-image and per-job costs.

The backbone has random weights (``tiny`` on the CPU; real names are built by open_clip with
``pretrained=None`` and saved as an OpenAI-format checkpoint for ``MODEL.BACKBONE.PATH``).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from types import SimpleNamespace

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import torch  # noqa: E402

from benchmarks.synthetic_data import SyntheticSpec, write_dataset  # noqa: E402

TABLE_SHOTS = 16
TABLE_SEEDS = 3


# ------------------------------------------------------------------------------------ helpers
def _device_name(device: str) -> str:
    from benchmarks.bench_step import device_name

    return device_name(torch.device(device))


def _backbone_opts(args, work: str) -> list[str]:
    if args.backbone == "tiny":
        return ["MODEL.BACKBONE.NAME", "tiny"]
    from benchmarks.harness import random_clip
    from ramt.clip import save_openai_checkpoint

    path = os.path.join(work, f"random-{args.backbone.replace('/', '-')}.pt")
    if not os.path.isfile(path):
        save_openai_checkpoint(random_clip(args.backbone), path)
    return ["MODEL.BACKBONE.NAME", "", "MODEL.BACKBONE.PATH", path]


def _dataset_cfg(name: str, data: str, extra: list[str], cache: str, image_cache: bool, shots: int):
    from ramt.config import get_cfg_default, merge_from_file, merge_from_list

    cfg = get_cfg_default()
    merge_from_file(cfg, name, kind="datasets")
    merge_from_file(cfg, "RAMT/vit_b16", kind="trainers")
    merge_from_list(cfg, extra)
    cfg.DATASET.ROOT = data
    cfg.DATASET.NUM_SHOTS = shots
    cfg.SEED = 1
    cfg.CACHE_DIR = cache
    cfg.DATALOADER.IMAGE_CACHE = image_cache
    cfg.VERBOSE = False
    return cfg


def _time_pass(loader) -> tuple[float, int]:
    t0 = time.perf_counter()
    n = 0
    for batch in loader:
        n += int(batch["img"].shape[0])
    return time.perf_counter() - t0, n


def measure_eval_input(name: str, data: str, extra: list[str], cache: str, shots: int) -> dict:
    """images/s of one pass over the test set: decode path vs cache (and the cache build)."""
    import contextlib
    import io

    import ramt.datasets  # noqa: F401
    from ramt.data.image_cache import clear_open_caches
    from ramt.data.manager import DataManager

    with contextlib.redirect_stdout(io.StringIO()):
        dm = DataManager(_dataset_cfg(name, data, extra, cache, False, shots))
    decode_s, n = _time_pass(dm.test_loader)
    clear_open_caches()
    cfg = _dataset_cfg(name, data, extra, cache, True, shots)
    with contextlib.redirect_stdout(io.StringIO()):
        dm = DataManager(cfg)
        loader = dm.test_loader
        t0 = time.perf_counter()
        loader.cache  # noqa: B018  (opens or builds the cache, otherwise done on the first pass)
        build_s = time.perf_counter() - t0
    cached_s, _ = _time_pass(loader)
    nbytes = loader.cache.nbytes
    return {
        "dataset": name,
        "images": n,
        "decode_images_per_s": n / decode_s,
        "cache_build_s": build_s,
        "cached_images_per_s": n / cached_s,
        "cache_bytes": nbytes,
        "workers": max(0, min(int(cfg.DATALOADER.NUM_WORKERS), os.cpu_count() or 1)),
    }


def run_sweep(args, mode: str, work: str, data: str, extra: list[str]) -> dict:
    out = os.path.join(work, f"out-{mode}")
    cache = os.path.join(work, f"cache-{mode}")
    for d in (out, cache):
        shutil.rmtree(d, ignore_errors=True)
    cmd = [sys.executable, "-m", "ramt.sweep", "--methods", f"ramt,{args.combo}", "--datasets", args.datasets]
    cmd += ["--shots", str(args.shots), "--seeds", args.seeds, "--extra", shlex.join(extra), "--no-report"]
    cmd += ["--output", out, "--data", data]
    if mode == "worker":
        cmd.append("--worker")
    env = dict(os.environ, RAMT_CACHE_DIR=cache, PYTHONPATH=ROOT, PYTHON=sys.executable)
    if args.combo == "tip_adapter_ramt":
        env.setdefault("VARIANTS", "tipf")  # the combination's Tip-Adapter-F variant only
    log = os.path.join(work, f"sweep-{mode}.log")
    t0 = time.perf_counter()
    with open(log, "w") as fh:
        rc = subprocess.run(cmd, cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT).returncode
    wall = time.perf_counter() - t0
    if rc != 0:
        raise SystemExit(f"the {mode} sweep failed (exit {rc}); see {log}")
    runs = []
    for dirpath, _, files in os.walk(out):
        if "results.json" in files:
            with open(os.path.join(dirpath, "results.json")) as f:
                res = json.load(f)
            runs.append(
                {"trainer": res["trainer"], "accuracy": res["metrics"].get("accuracy"), **res["timing"]}
            )
    parts = {k: sum(r[k] for r in runs) for k in ("setup", "data", "steps", "eval")}
    parts["other"] = wall - sum(parts.values())
    return {"mode": mode, "wall_s": wall, "runs": runs, "parts": parts, "log": log}


def coop_step_ms(args) -> dict[int, float]:
    """ms per CoOp training step (project trainer, fast path) at two class counts."""
    from benchmarks import bench_step

    out = {}
    for case in args.coop_cases.split(","):
        ns = SimpleNamespace(
            backbone=args.backbone,
            batch=args.batch,
            steps=args.coop_steps,
            warmup=1,
            per_step_sync=False,
            compile_backend="",
            compile_mode="",
        )
        rec = bench_step.time_case(case, "fast", args.compile, ns, torch.device(args.device))
        if "error" in rec:
            raise SystemExit(f"CoOp step timing failed: {rec['error']}")
        out[rec["classes"]] = rec["ms_per_step"] * 32 / args.batch  # per batch of 32
    return out


# ------------------------------------------------------------------------------- extrapolation
def _yaml_opt(trainer_cfg: str, key: str):
    from ramt.config import get_cfg_default, merge_from_file

    cfg = get_cfg_default()
    merge_from_file(cfg, trainer_cfg, kind="trainers")
    node = cfg
    for part in key.split("."):
        node = node[part]
    return node


def extrapolate_table(costs: dict) -> dict:
    """Wall time of the 16-shot table in worker mode from per-step / per-image / per-job costs.

    Per dataset (classes C, test size N): zero-shot N images; R-AMT 3 x (epochs x steps of 32 +
    N); CoOp 3 x epochs x steps x coop(C) + N (features cached across seeds); CoOp+R-AMT the same
    with N per seed (the masked encoder differs per seed); Tip-Adapter(-F) 3 x 10 augmented passes
    over the 16C shots + N; Tip+R-AMT the same with N per seed; plus a per-job setup. Data loading
    is taken as hidden behind the steps (cached originals, loader workers).
    """
    from ramt.catalogue import get_source
    from ramt.methods import DATASET_CONFIG_TO_REGISTRY, FEWSHOT_DATASETS
    from ramt.policy import coop_config_name

    t_ramt, t_img, t_setup = costs["ramt_step_s"], costs["eval_image_s"], costs["setup_per_job_s"]
    (c1, s1), (c2, s2) = sorted(costs["coop_step_s"].items())[:2]
    slope = (s2 - s1) / (c2 - c1)

    def t_coop(c: int) -> float:
        return max(s1 + slope * (c - c1), 0.0)

    per_method = dict.fromkeys(
        ("zsclip", "ramt", "coop", "tip_adapter", "coop_ramt", "tip_adapter_ramt"), 0.0
    )
    jobs = 0
    for ds in FEWSHOT_DATASETS:
        src = get_source(ds)
        c, n = src.expected.classes, src.expected.test
        registry = DATASET_CONFIG_TO_REGISTRY.get(ds, ds)
        shots = TABLE_SHOTS * c
        ramt_cfg = f"RAMT/{ds}_vit_b16" if ds == "imagenet" else "RAMT/vit_b16"
        e_r, b_r = (
            _yaml_opt(ramt_cfg, "OPTIM.MAX_EPOCH"),
            _yaml_opt(ramt_cfg, "DATALOADER.TRAIN_X.BATCH_SIZE"),
        )
        coop_cfg = "CoOp/" + coop_config_name(registry, TABLE_SHOTS)
        e_c, b_c = (
            _yaml_opt(coop_cfg, "OPTIM.MAX_EPOCH"),
            _yaml_opt(coop_cfg, "DATALOADER.TRAIN_X.BATCH_SIZE"),
        )
        ramt_steps, coop_steps = e_r * max(1, shots // b_r), e_c * max(1, shots // b_c)
        per_method["zsclip"] += n * t_img
        per_method["ramt"] += TABLE_SEEDS * (ramt_steps * t_ramt + n * t_img)
        per_method["coop"] += TABLE_SEEDS * coop_steps * t_coop(c) * b_c / 32 + n * t_img
        per_method["coop_ramt"] += TABLE_SEEDS * (coop_steps * t_coop(c) * b_c / 32 + n * t_img)
        per_method["tip_adapter"] += TABLE_SEEDS * 10 * shots * t_img + n * t_img
        per_method["tip_adapter_ramt"] += TABLE_SEEDS * (10 * shots + n) * t_img
        jobs += 1 + 5 * TABLE_SEEDS
    total = sum(per_method.values()) + jobs * t_setup
    return {"per_method_s": per_method, "jobs": jobs, "setup_s": jobs * t_setup, "total_s": total}


# ------------------------------------------------------------------------------------- main
def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--backbone", default="tiny")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument(
        "--datasets", default=None, help="comma list (CPU: caltech101; CUDA: caltech101,oxford_pets,dtd)"
    )
    p.add_argument(
        "--classes", type=int, default=None, help="classes per synthetic dataset (CPU 10, CUDA 100)"
    )
    p.add_argument("--test-per-class", type=int, default=None, help="CPU 20, CUDA 30")
    p.add_argument("--shots", type=int, default=None, help="CPU 4, CUDA 16")
    p.add_argument("--seeds", default="1,2,3")
    p.add_argument("--epochs", type=int, default=None, help="OPTIM.MAX_EPOCH of every job (CPU 1, CUDA 10)")
    p.add_argument(
        "--eval-datasets",
        default=None,
        help="datasets whose evaluation input is timed (default: the sweep's, plus oxford_pets at 500x375)",
    )
    p.add_argument("--combo", default="tip_adapter_ramt", choices=("tip_adapter_ramt", "coop_ramt"))
    p.add_argument("--extra", default="", help="more KEY VALUE overrides for every job")
    p.add_argument("--compile", action="store_true", help="SPEED.COMPILE True (reduce-overhead) for the jobs")
    p.add_argument("--batch", type=int, default=None, help="CoOp step timing batch (CPU 8, CUDA 32)")
    p.add_argument("--coop-cases", default="coop100,coop1000")
    p.add_argument("--coop-steps", type=int, default=None)
    p.add_argument("--skip-separate", action="store_true", help="worker mode only (no ratio)")
    p.add_argument("--work", default="", help="work folder (data, caches, outputs)")
    p.add_argument("--out", default="", help="JSON path (default <work>/bench_sweep.json)")
    args = p.parse_args(argv)
    cpu = args.device == "cpu"
    args.datasets = args.datasets or ("caltech101" if cpu else "caltech101,oxford_pets,dtd")
    args.classes = args.classes or (10 if cpu else 100)
    args.test_per_class = args.test_per_class or (20 if cpu else 30)
    args.shots = args.shots or (4 if cpu else 16)
    args.epochs = args.epochs or (1 if cpu else 10)
    eval_names = (
        args.eval_datasets or ",".join(dict.fromkeys([*args.datasets.split(","), "oxford_pets"]))
    ).split(",")
    args.batch = args.batch or (8 if cpu else 32)
    args.coop_steps = args.coop_steps or (2 if cpu else 10)
    work = os.path.abspath(
        args.work
        or os.path.join(
            ROOT, "benchmarks", "results", f"sweep-{args.backbone.replace('/', '-')}-{args.device}"
        )
    )
    os.makedirs(work, exist_ok=True)
    data = os.path.join(work, "data")
    t_start = time.perf_counter()

    print(f"bench_sweep: {args.backbone} on {_device_name(args.device)}; work folder {work}")
    names = args.datasets.split(",")
    t0 = time.perf_counter()
    for name in dict.fromkeys(names + eval_names):
        spec = SyntheticSpec(name, args.classes, max(args.shots + 4, 8), 4, args.test_per_class)
        n = write_dataset(data, spec)
        print(f"  data: {name}: {n} synthetic JPEGs ({args.classes} classes)")
    print(f"  data written in {time.perf_counter() - t0:.1f} s")

    extra = _backbone_opts(args, work)
    extra += ["OPTIM.MAX_EPOCH", str(args.epochs), "TRAINER.TIP.TRAIN_EPOCH", str(args.epochs)]
    extra += ["TRAINER.TIP.AUGMENT_EPOCH", "2" if cpu else "10", "TRAIN.PRINT_FREQ", "1000"]
    if not cpu:
        extra += ["USE_CUDA", "True"]
    if args.compile:
        extra += ["SPEED.COMPILE", "True", "SPEED.COMPILE_MODE", "reduce-overhead"]
    extra += shlex.split(args.extra)

    print("\n== evaluation input: decode path vs decoded-image cache (one pass over each test set)")
    evals = []
    for name in eval_names:
        r = measure_eval_input(name, data, extra, os.path.join(work, "cache-eval"), args.shots)
        evals.append(r)
        print(
            f"  {name}: {r['images']} images, decode {r['decode_images_per_s']:.0f} images/s "
            f"({r['workers']} workers), cache {r['cached_images_per_s']:.0f} images/s, "
            f"cache build {r['cache_build_s']:.1f} s, {r['cache_bytes'] / 2**20:.1f} MiB"
        )
    decode = sum(r["images"] for r in evals) / sum(r["images"] / r["decode_images_per_s"] for r in evals)
    cached = sum(r["images"] for r in evals) / sum(r["images"] / r["cached_images_per_s"] for r in evals)

    print(
        f"\n== sweep: ramt + {args.combo}, datasets {args.datasets}, {args.shots} shots, seeds {args.seeds}"
    )
    sweeps = []
    for mode in ("worker",) if args.skip_separate else ("separate", "worker"):
        s = run_sweep(args, mode, work, data, extra)
        sweeps.append(s)
        parts = "  ".join(f"{k} {v:.1f}" for k, v in s["parts"].items())
        print(f"  {mode:<9} {s['wall_s']:7.1f} s wall, {len(s['runs'])} runs;  {parts}  (s)")
    by_mode = {s["mode"]: s for s in sweeps}
    worker = by_mode["worker"]
    for s in sweeps[1:]:
        a = [
            (r["trainer"], r["accuracy"])
            for r in sorted(sweeps[0]["runs"], key=lambda r: (r["trainer"], r["accuracy"]))
        ]
        b = [
            (r["trainer"], r["accuracy"])
            for r in sorted(s["runs"], key=lambda r: (r["trainer"], r["accuracy"]))
        ]
        print(f"  same accuracies in both modes: {a == b}")

    ramt_runs = [r for r in worker["runs"] if r["trainer"] == "RAMT"]
    steps = sum(r["n_steps"] for r in ramt_runs)
    images = sum(r["n_eval_images"] for r in ramt_runs)
    costs = {
        "ramt_step_s": sum(r["steps"] for r in ramt_runs) / max(1, steps),
        "eval_image_s": sum(r["eval"] for r in ramt_runs) / max(1, images),
        "setup_per_job_s": (worker["parts"]["setup"] + worker["parts"]["other"])
        / max(1, len(worker["runs"])),
    }
    print("\n== CoOp step (project trainer, fast path, per batch of 32)")
    costs["coop_step_s"] = {c: ms / 1000.0 for c, ms in coop_step_ms(args).items()}
    for c, s in costs["coop_step_s"].items():
        print(f"  {c} classes: {1000 * s:.1f} ms")
    table = extrapolate_table(costs)

    print("\n== results")
    print(f"device: {_device_name(args.device)}; backbone {args.backbone} (random weights)")
    print(
        f"R-AMT step {1000 * costs['ramt_step_s']:.1f} ms (batch {_yaml_opt('RAMT/vit_b16', 'DATALOADER.TRAIN_X.BATCH_SIZE')} "
        f"config; measured batches as run), evaluation {1000 * costs['eval_image_s']:.2f} ms/image (cached, incl. model), "
        f"setup {costs['setup_per_job_s']:.1f} s/job in worker mode"
    )
    if "separate" in by_mode:
        print(f"worker mode vs separate processes: {by_mode['separate']['wall_s'] / worker['wall_s']:.1f}x")
    print(f"cached evaluation vs decode: {cached / decode:.1f}x")
    print(
        f"extrapolated full {TABLE_SHOTS}-shot table (6 methods x 11 datasets x {TABLE_SEEDS} seeds, "
        f"{table['jobs']} jobs, worker mode): {table['total_s'] / 60:.1f} min"
    )
    print(
        "  "
        + ", ".join(f"{k} {v / 60:.1f}" for k, v in table["per_method_s"].items())
        + f", setup {table['setup_s'] / 60:.1f} (min)"
    )
    print(f"bench_sweep finished in {time.perf_counter() - t_start:.0f} s")

    result = {
        "device": _device_name(args.device),
        "backbone": args.backbone,
        "args": vars(args),
        "eval_input": evals,
        "sweeps": sweeps,
        "costs": costs,
        "table": table,
        "ratios": {
            "worker_vs_separate": by_mode["separate"]["wall_s"] / worker["wall_s"]
            if "separate" in by_mode
            else None,
            "cached_vs_decode": cached / decode,
        },
    }
    out = args.out or os.path.join(work, "bench_sweep.json")
    with open(out, "w") as f:
        json.dump(result, f, indent=1, default=str)
    print(f"JSON: {out}")
    return result


if __name__ == "__main__":
    main()
