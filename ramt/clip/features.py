"""Image features of frozen encoders, cached on disk and shared across seeds and methods.

Zero-shot CLIP, CoOp evaluation and Tip-Adapter evaluate a frozen image encoder on a
deterministic test transform, so the features of a split depend only on (encoder identity,
image list, transform, precision). They are computed once and stored under
``<CACHE_DIR>/features/<key>.pt`` (atomic write); every later run loads them.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from collections.abc import Sequence
from typing import Callable, Optional

import torch
from tqdm import tqdm

from ramt.utils.io import atomic_torch_save


def feature_cache_key(**parts) -> str:
    """A stable hash of the identifying parts (lists of paths are hashed too)."""
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:24]


def items_fingerprint(impaths: Sequence[str], labels: Sequence[int]) -> str:
    h = hashlib.sha256()
    for p, y in zip(impaths, labels):
        h.update(f"{p}\t{y}\n".encode())
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


def cached_features(
    cache_dir: Optional[str],
    key: str,
    compute: Callable[[], tuple[torch.Tensor, torch.Tensor]],
) -> tuple[torch.Tensor, torch.Tensor]:
    """Load features for ``key`` from ``cache_dir``, or compute and store them."""
    if not cache_dir:
        return compute()
    path = os.path.join(cache_dir, f"{key}.pt")
    if os.path.isfile(path):
        try:
            blob = torch.load(path, map_location="cpu", weights_only=True)
            print(f"Loading cached image features from {path}")
            return blob["features"], blob["labels"]
        except Exception as e:  # a foreign or damaged file: recompute, never trust it
            print(f"Ignoring unreadable feature cache {path}: {e}")
    features, labels = compute()
    atomic_torch_save({"features": features, "labels": labels}, path)
    print(f"Saved image features to {path}")
    return features, labels


@functools.lru_cache(maxsize=1)
def tiny_weights_fingerprint() -> str:
    """Hash of the ``tiny`` weights, so a change to its definition never reuses stale features."""
    from ramt.clip.backend import build_tiny_clip

    h = hashlib.sha256()
    for name, tensor in build_tiny_clip().state_dict().items():
        h.update(name.encode())
        h.update(tensor.detach().float().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def backbone_identity(cfg) -> str:
    """Identify the CLIP weights: a local file by path, size and mtime; ``tiny`` by its weights;
    an OpenAI model by name."""
    path = cfg.MODEL.BACKBONE.PATH
    if path:
        st = os.stat(path)
        return f"file:{os.path.abspath(path)}:{st.st_size}:{int(st.st_mtime)}"
    if cfg.MODEL.BACKBONE.NAME == "tiny":
        return f"name:tiny:{tiny_weights_fingerprint()}"
    return f"name:{cfg.MODEL.BACKBONE.NAME}"
