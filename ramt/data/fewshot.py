"""CoOp-exact few-shot sampling, base/new class subsampling and the JSON few-shot cache.

Sampling uses Python's *global* ``random`` module on purpose (docs/ENGINE.md, "Few-shot sampling"): seeded with
the run seed, it reproduces the subsets CoOp draws from the same split file.
"""

from __future__ import annotations

import json
import math
import os
import random
import warnings
from collections.abc import Sequence
from typing import Optional

from .datum import Datum, split_dataset_by_label
from .splits import atomic_write_text, items_to_entries

__all__ = [
    "SAMPLER_VERSION",
    "FewshotCacheError",
    "generate_fewshot",
    "subsample_classes",
    "fewshot_cache_root",
    "fewshot_cache_path",
    "save_fewshot_cache",
    "load_fewshot_cache",
    "load_or_sample_fewshot",
]

# Bump when the sampling algorithm or the cache content changes.
SAMPLER_VERSION = 1


class FewshotCacheError(RuntimeError):
    """A cached few-shot file that does not match the current split."""


def generate_fewshot(items: Sequence[Datum], num_shots: int, repeat: bool = False) -> list[Datum]:
    """K items per label, exactly as CoOp (labels in first-seen order, ``random.sample``).

    ``num_shots < 1`` returns the list unchanged. A label with fewer than K items keeps all of
    them, or draws K with replacement (``random.choices``) when ``repeat`` is True.
    """
    if num_shots < 1:
        return list(items)
    print(f"Creating a {num_shots}-shot dataset")
    out: list[Datum] = []
    for group in split_dataset_by_label(items).values():
        if len(group) >= num_shots:
            out.extend(random.sample(group, num_shots))
        elif repeat:
            out.extend(random.choices(group, k=num_shots))
        else:
            out.extend(group)
    return out


def subsample_classes(*lists: Sequence[Datum], subsample: str = "all") -> tuple[list[Datum], ...]:
    """Keep the base (first ceil(C/2)) or new (the rest) classes and relabel them 0.. .

    Labels are taken (sorted) from the first list. Returns one list per input, as a tuple.
    """
    subsample = str(subsample).lower()
    if subsample not in ("all", "base", "new"):
        raise ValueError(f"DATASET.SUBSAMPLE_CLASSES must be 'all', 'base' or 'new', got {subsample!r}")
    if subsample == "all":
        return tuple(list(x) for x in lists)
    if not lists:
        return ()
    labels = sorted({item.label for item in lists[0]})
    m = math.ceil(len(labels) / 2)
    if subsample == "base":
        print("SUBSAMPLE BASE CLASSES!")
        selected = labels[:m]
    else:
        print("SUBSAMPLE NEW CLASSES!")
        selected = labels[m:]
    relabel = {old: new for new, old in enumerate(selected)}
    out = []
    for items in lists:
        out.append(
            [
                Datum(impath=it.impath, label=relabel[it.label], domain=it.domain, classname=it.classname)
                for it in items
                if it.label in relabel
            ]
        )
    return tuple(out)


# --------------------------------------------------------------------------- cache


def fewshot_cache_root(cfg) -> str:
    """``DATASET.FEWSHOT_CACHE_DIR``, else ``<cache dir>/fewshot``."""
    from ramt.config import resolve_cache_dir

    custom = cfg.DATASET.FEWSHOT_CACHE_DIR
    if custom:
        return os.path.abspath(os.path.expanduser(custom))
    return os.path.join(resolve_cache_dir(cfg), "fewshot")


def fewshot_cache_path(
    cache_root: str, dataset_name: str, num_shots: int, seed: int, fingerprint: str
) -> str:
    fname = f"shot_{num_shots}-seed_{seed}-{fingerprint[:12]}-v{SAMPLER_VERSION}.json"
    return os.path.join(cache_root, dataset_name, fname)


def save_fewshot_cache(
    path: str,
    *,
    dataset: str,
    num_shots: int,
    seed: int,
    fingerprint: str,
    train: Sequence[Datum],
    val: Sequence[Datum],
    image_prefix: str,
) -> None:
    """Write the subset atomically as portable JSON (paths relative to ``image_prefix``)."""
    payload = {
        "dataset": dataset,
        "num_shots": num_shots,
        "seed": seed,
        "split_fingerprint": fingerprint,
        "sampler_version": SAMPLER_VERSION,
        "train": items_to_entries(train, image_prefix),
        "val": items_to_entries(val, image_prefix),
    }
    atomic_write_text(path, json.dumps(payload))


def load_fewshot_cache(path: str, *, fingerprint: str, image_prefix: str) -> tuple[list[Datum], list[Datum]]:
    """Read a cached subset; raise :class:`FewshotCacheError` if it belongs to another split."""
    fix = f"Delete {path} to resample it, or restore the split file it was made from."
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as e:
        raise FewshotCacheError(f"Cannot read few-shot cache {path}: {e}. {fix}") from e
    if not isinstance(data, dict) or "train" not in data or "val" not in data:
        raise FewshotCacheError(f"Few-shot cache {path} lacks the keys 'train'/'val'. {fix}")
    if data.get("split_fingerprint") != fingerprint:
        raise FewshotCacheError(
            f"Few-shot cache {path} was made from a different split (fingerprint "
            f"{str(data.get('split_fingerprint'))[:16]}..., current {fingerprint[:16]}...). {fix}"
        )
    if data.get("sampler_version") != SAMPLER_VERSION:
        raise FewshotCacheError(
            f"Few-shot cache {path} has sampler version {data.get('sampler_version')}, "
            f"expected {SAMPLER_VERSION}. {fix}"
        )
    join = os.path.join
    lists = []
    for key in ("train", "val"):
        try:
            lists.append(
                [
                    Datum(impath=join(image_prefix, rel) if image_prefix else rel, label=lab, classname=cn)
                    for rel, lab, cn in data[key]
                ]
            )
        except (TypeError, ValueError) as e:
            raise FewshotCacheError(f"Few-shot cache {path}: malformed '{key}' entries ({e}). {fix}") from e
    return lists[0], lists[1]


def load_or_sample_fewshot(
    cfg,
    dataset_name: str,
    train: Sequence[Datum],
    val: Optional[Sequence[Datum]],
    image_prefix: str,
    fingerprint: str,
    val_from_train: bool = False,
    num_shots: Optional[int] = None,
) -> tuple[list[Datum], Optional[list[Datum]]]:
    """Return the few-shot ``(train, val)``, from the cache or freshly sampled (then cached).

    Train: K per class from ``train``. Val: min(K, 4) per class from ``val``, or, with
    ``val_from_train`` (ImageNet), from the train items not in the few-shot train set, drawn right
    after the train subset. ``K < 1`` returns the lists unchanged and touches no cache.
    """
    k = int(cfg.DATASET.NUM_SHOTS if num_shots is None else num_shots)
    if k < 1:
        return list(train), (list(val) if val is not None else None)
    seed = int(cfg.SEED)
    path = fewshot_cache_path(fewshot_cache_root(cfg), dataset_name, k, seed, fingerprint)
    if os.path.isfile(path):
        print(f"Loading preprocessed few-shot data from {path}")
        return load_fewshot_cache(path, fingerprint=fingerprint, image_prefix=image_prefix)

    train_k = generate_fewshot(train, k)
    if val_from_train:
        chosen = {it.impath for it in train_k}
        val_k = generate_fewshot([it for it in train if it.impath not in chosen], min(k, 4))
    elif val is not None:
        val_k = generate_fewshot(val, min(k, 4))
    else:
        val_k = []
    print(f"Saving preprocessed few-shot data to {path}")
    try:
        save_fewshot_cache(
            path,
            dataset=dataset_name,
            num_shots=k,
            seed=seed,
            fingerprint=fingerprint,
            train=train_k,
            val=val_k,
            image_prefix=image_prefix,
        )
    except OSError as e:
        warnings.warn(
            f"Could not write the few-shot cache {path} ({e}); continuing without it. "
            "Set CACHE_DIR or DATASET.FEWSHOT_CACHE_DIR to a writable folder.",
            stacklevel=2,
        )
    if val is None and not val_from_train:
        return train_k, None
    return train_k, val_k
