"""Image features of frozen encoders, cached on disk and shared across seeds and methods.

Zero-shot CLIP, CoOp evaluation and Tip-Adapter evaluate a frozen image encoder on a
deterministic test transform, so the features of a split depend only on (encoder weights,
image list and contents, transform, precision, code version). They are computed once and stored
under ``<CACHE_DIR>/features/<key>.pt`` (atomic write, with a checksum of the tensors checked on
load); every later run loads them. The key covers each image's path, label, size, mtime and ctime
(ns), so an image changed in place invalidates the entry; the weights enter by their content
digest (:func:`ramt.clip.spec.weights_identity`).
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Sequence
from typing import Callable, Optional

import torch
from tqdm import tqdm

from ramt.utils.io import atomic_torch_save, file_stamp

from .spec import backbone_identity as backbone_identity  # re-exported: the engine's import
from .spec import weights_identity as weights_identity  # re-exported: the run identity's import


def feature_cache_key(**parts) -> str:
    """A stable hash of the identifying parts (lists of paths are hashed too)."""
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:24]


def items_fingerprint(impaths: Sequence[str], labels: Sequence[int]) -> str:
    """Hash of each item's path, label, file size, mtime and ctime (ns; missing files hash as
    such), so that rewriting an image in place changes the fingerprint, even with mtime restored."""
    h = hashlib.sha256()
    for p, y in zip(impaths, labels):
        h.update(f"{p}\t{y}\t{file_stamp(p)}\n".encode())
    return h.hexdigest()[:16]


@torch.no_grad()
def compute_features(
    encode: Callable[[torch.Tensor], torch.Tensor], loader, device: torch.device, desc: str = "features"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Run ``encode`` over ``loader``; returns (features fp32 on CPU, labels)."""
    feats, labels = [], []
    for batch in tqdm(loader, desc=desc, leave=False, dynamic_ncols=True):
        images = batch["img"].to(device, non_blocking=True)
        feats.append(encode(images).float().cpu())
        labels.append(batch["label"])
    return torch.cat(feats), torch.cat(labels)


def tensors_checksum(*tensors: torch.Tensor) -> str:
    """blake2b of the tensors' bytes (the feature cache's integrity check)."""
    h = hashlib.blake2b(digest_size=16)
    for t in tensors:
        h.update(t.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def cached_features(
    cache_dir: Optional[str],
    key: str,
    compute: Callable[[], tuple[torch.Tensor, torch.Tensor]],
) -> tuple[torch.Tensor, torch.Tensor]:
    """Load features for ``key`` from ``cache_dir``, or compute and store them.

    The stored checksum is checked on load: a mismatch (or an unreadable file) moves the file
    aside with a warning and the features are computed again.
    """
    if not cache_dir:
        return compute()
    path = os.path.join(cache_dir, f"{key}.pt")
    if os.path.isfile(path):
        try:
            blob = torch.load(path, map_location="cpu", weights_only=True)
            if blob.get("checksum") != tensors_checksum(blob["features"], blob["labels"]):
                raise ValueError("the features do not match their checksum")
            print(f"Loading cached image features from {path}")
            return blob["features"], blob["labels"]
        except Exception as e:  # a foreign or damaged file: recompute, never trust it
            aside = f"{path}.broken-{os.getpid()}"
            os.replace(path, aside)
            msg = f"Feature cache {path} is damaged ({e}); moved to {aside}, computing the features again"
            print(msg)
            warnings.warn(msg, stacklevel=2)
    features, labels = compute()
    atomic_torch_save(
        {"features": features, "labels": labels, "checksum": tensors_checksum(features, labels)}, path
    )
    print(f"Saved image features to {path}")
    for name in os.listdir(cache_dir):
        if name.startswith(f"{key}.pt.broken-"):
            os.remove(os.path.join(cache_dir, name))
    return features, labels
