"""The embedded default dataset: scikit-learn's handwritten digits in CoOp layout.

:func:`ensure_digits` writes ``<root>/digits/images/<classname>/<idx>.png`` (8x8 digits upscaled to
32x32, dark ink on white, RGB) and ``<root>/digits/split_zhou_Digits.json`` once. Generation
happens in a temporary folder next to the target and is renamed into place, so an interrupted
run never leaves a half dataset, and two racing processes both end up with the same complete one.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import tempfile

__all__ = ["DIGITS_FOLDER", "DIGITS_SPLIT_FILE", "DIGITS_CLASSNAMES", "DIGITS_SIZE", "ensure_digits"]

DIGITS_FOLDER = "digits"
DIGITS_SPLIT_FILE = "split_zhou_Digits.json"
DIGITS_IMAGE_DIR = "images"
DIGITS_CLASSNAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
DIGITS_SIZE = 32
DIGITS_SPLIT_SEED = 20240101  # fixed, local RNG: the split never depends on the run seed


def _is_complete(dataset_dir: str) -> bool:
    return os.path.isfile(os.path.join(dataset_dir, DIGITS_SPLIT_FILE))


def _make_split(labels) -> dict:
    """Per class ~50/20/30, shuffled with a fixed local RNG."""
    rng = random.Random(DIGITS_SPLIT_SEED)
    split = {"train": [], "val": [], "test": []}
    for c, cname in enumerate(DIGITS_CLASSNAMES):
        idxs = [i for i, lab in enumerate(labels) if lab == c]
        rng.shuffle(idxs)
        n_train = round(0.5 * len(idxs))
        n_val = round(0.2 * len(idxs))
        parts = {
            "train": idxs[:n_train],
            "val": idxs[n_train : n_train + n_val],
            "test": idxs[n_train + n_val :],
        }
        for key, part in parts.items():
            split[key].extend([f"{cname}/{i:04d}.png", c, cname] for i in part)
    return split


def _generate(target_dir: str) -> None:
    import numpy as np
    from PIL import Image
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images, labels = bunch.images, [int(t) for t in bunch.target]
    img_root = os.path.join(target_dir, DIGITS_IMAGE_DIR)
    for cname in DIGITS_CLASSNAMES:
        os.makedirs(os.path.join(img_root, cname))
    for i, (arr, lab) in enumerate(zip(images, labels)):
        pix = (255 - np.clip(arr * (255.0 / 16.0), 0, 255)).round().astype(np.uint8)
        img = Image.fromarray(pix, mode="L").resize((DIGITS_SIZE, DIGITS_SIZE), Image.NEAREST).convert("RGB")
        img.save(os.path.join(img_root, DIGITS_CLASSNAMES[lab], f"{i:04d}.png"), compress_level=1)
    with open(os.path.join(target_dir, DIGITS_SPLIT_FILE), "w", encoding="utf-8") as f:
        json.dump(_make_split(labels), f)


def ensure_digits(root: str, verbose: bool = True) -> str:
    """Make sure ``<root>/digits`` holds the Digits dataset; return that folder."""
    root = os.path.abspath(os.path.expanduser(root))
    target = os.path.join(root, DIGITS_FOLDER)
    if _is_complete(target):
        return target
    if os.path.exists(target):
        raise FileNotFoundError(
            f"{target} exists but has no {DIGITS_SPLIT_FILE} (the split file is missing); it is not a complete "
            "Digits dataset. "
            "Remove the folder so it can be regenerated, or point --root elsewhere."
        )
    try:
        os.makedirs(root, exist_ok=True)
        tmp = tempfile.mkdtemp(prefix=f".{DIGITS_FOLDER}.tmp-", dir=root)
    except OSError as e:
        raise PermissionError(
            f"Cannot create the Digits dataset under {root} ({e}). The data root must be writable once "
            "to generate it; pass a writable --root (DATASET.ROOT)."
        ) from e
    if verbose:
        print(f"Generating the Digits dataset (scikit-learn handwritten digits) in {target}")
    try:
        _generate(tmp)
        os.chmod(tmp, 0o755)
        try:
            os.rename(tmp, target)
        except OSError:
            if not _is_complete(target):  # not a lost race: a real error
                raise
    finally:
        if os.path.exists(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
    return target
