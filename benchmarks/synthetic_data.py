"""Synthetic datasets in CoOp's layout with JPEGs at the real datasets' image sizes (benchmarks only).

The pixels are smooth random fields plus grain, so that the JPEGs have realistic sizes and
decode costs (a 500x375 image is ~60-110 KB); the labels are meaningless. Written in parallel
with a process pool. Split-file datasets (``caltech101``, ``dtd``, ``eurosat``, ...) get a CoOp
split JSON; ``imagenet`` gets ``images/{train,val}/<wnid>/*.JPEG`` and ``classnames.txt``.
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np

# (width, height) pairs typical of each dataset (landscape and portrait alternate).
IMAGE_SIZES = {
    "imagenet": [(500, 375), (375, 500), (500, 333)],
    "caltech101": [(300, 200), (260, 300), (300, 230)],
    "dtd": [(640, 480), (480, 640), (500, 500)],
    "eurosat": [(64, 64)],
    "oxford_pets": [(500, 375), (375, 500)],
    "food101": [(512, 512), (512, 384)],
}


@dataclass(frozen=True)
class SyntheticSpec:
    name: str  # dataset config name
    classes: int
    train_per_class: int
    val_per_class: int
    test_per_class: int


def _image(seed: int, size: tuple[int, int]) -> np.ndarray:
    w, h = size
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, size=(max(2, h // 32), max(2, w // 32), 3), dtype=np.uint8)
    from PIL import Image

    smooth = np.asarray(Image.fromarray(coarse).resize((w, h), Image.BICUBIC), dtype=np.int16)
    grain = rng.integers(-12, 13, size=(h, w, 3), dtype=np.int16)
    return np.clip(smooth + grain, 0, 255).astype(np.uint8)


def _write(task: tuple[str, int, tuple[int, int]]) -> None:
    from PIL import Image

    path, seed, size = task
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(_image(seed, size)).save(path, quality=90)


def _write_all(tasks: list, workers: int) -> None:
    if workers <= 1:
        for t in tasks:
            _write(t)
        return
    with ProcessPoolExecutor(workers) as pool:
        list(pool.map(_write, tasks, chunksize=64))


def write_dataset(root: str, spec: SyntheticSpec, workers: int = 0) -> int:
    """Write ``spec`` under ``root`` (skipped when its marker file exists); return the image count."""
    from ramt.data.splits import dataset_info

    workers = workers or os.cpu_count() or 1
    info = dataset_info(spec.name)
    dataset_dir = os.path.join(root, info.folder)
    marker = os.path.join(dataset_dir, ".synthetic-complete")
    sizes = IMAGE_SIZES.get(spec.name, [(500, 375), (375, 500)])
    names = [f"class_{c:04d}" for c in range(spec.classes)]
    tasks: list = []
    if spec.name == "imagenet":
        image_dir = os.path.join(dataset_dir, "images")
        for wnid in (f"n{c:08d}" for c in range(spec.classes)):
            for part, n in (("train", spec.train_per_class), ("val", spec.test_per_class)):
                for i in range(n):
                    k = len(tasks)
                    tasks.append(
                        (
                            os.path.join(image_dir, part, wnid, f"{wnid}_{i:05d}.JPEG"),
                            k,
                            sizes[k % len(sizes)],
                        )
                    )
        if not os.path.isfile(marker):
            os.makedirs(dataset_dir, exist_ok=True)
            with open(os.path.join(dataset_dir, "classnames.txt"), "w") as f:
                f.writelines(f"n{c:08d} {names[c]}\n" for c in range(spec.classes))
    else:
        image_dir = os.path.join(dataset_dir, info.image_prefix) if info.image_prefix else dataset_dir
        split: dict[str, list] = {"train": [], "val": [], "test": []}
        for c, cname in enumerate(names):
            for part, n in (
                ("train", spec.train_per_class),
                ("val", spec.val_per_class),
                ("test", spec.test_per_class),
            ):
                for _ in range(n):
                    k = len(tasks)
                    rel = f"{cname}/image_{k:06d}.jpg"
                    tasks.append((os.path.join(image_dir, rel), k, sizes[k % len(sizes)]))
                    split[part].append([rel, c, cname])
        if not os.path.isfile(marker):
            os.makedirs(dataset_dir, exist_ok=True)
            with open(os.path.join(dataset_dir, info.split_file), "w") as f:
                json.dump(split, f)
    if not os.path.isfile(marker):
        _write_all(tasks, workers)
        with open(marker, "w") as f:
            f.write(f"{len(tasks)}\n")
    return len(tasks)


def main(argv=None) -> None:
    import argparse

    p = argparse.ArgumentParser(description="Write a synthetic dataset in CoOp's layout (benchmarks).")
    p.add_argument("root", help="data root (DATASET.ROOT)")
    p.add_argument("name", help="dataset config name, e.g. imagenet, caltech101")
    p.add_argument("--classes", type=int, required=True)
    p.add_argument("--train", type=int, default=20, help="training images per class")
    p.add_argument("--val", type=int, default=4, help="validation images per class (split-file datasets)")
    p.add_argument("--test", type=int, default=50, help="test images per class")
    p.add_argument("--workers", type=int, default=0)
    a = p.parse_args(argv)
    n = write_dataset(a.root, SyntheticSpec(a.name, a.classes, a.train, a.val, a.test), workers=a.workers)
    print(f"{a.name}: {n} synthetic JPEGs under {a.root}")


if __name__ == "__main__":
    import sys

    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    main()
