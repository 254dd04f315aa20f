"""Shared plumbing of the faithfulness recorders: run the authors' code on the project's tiny CLIP.

The recorders import the authors' modules from a checkout given on the command line (never shipped
with the project), feed them the ``tiny`` CLIP's weights in OpenAI's format and fixed inputs, and
write small fixture files under ``tests/fixtures/faithfulness/`` (numbers only).
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import types
from typing import Optional

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURES = os.path.join(ROOT, "tests", "fixtures", "faithfulness")
#: the fixed inputs every recorder and test share
IMAGE_SEED = 1234
CLASSNAMES = ["class_a", "class_b", "class_c"]


def upstream_commit(path: str) -> str:
    """The commit of an authors' checkout (``git rev-parse``), or the ``UPSTREAM_COMMIT`` file's
    content for an exported tree (``git archive``)."""
    marker = os.path.join(path, "UPSTREAM_COMMIT")
    if os.path.isfile(marker):
        return open(marker).read().strip()
    try:
        out = subprocess.run(
            ["git", "-C", path, "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        )
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        raise SystemExit(
            f"ERROR: cannot tell which upstream commit {path} is: it is not a git checkout and has no "
            "UPSTREAM_COMMIT file. Write the commit hash into UPSTREAM_COMMIT there."
        ) from None


def import_upstream(*paths: str) -> None:
    """Put the authors' folders first on ``sys.path``; stub the optional packages Dassl imports
    at module level but these recordings never use (``wilds``)."""
    for p in reversed(paths):
        if not os.path.isdir(p):
            raise SystemExit(f"ERROR: {p} is not a folder; pass the path of the authors' checkout.")
        sys.path.insert(0, p)
    if "wilds" not in sys.modules:
        try:
            import wilds  # noqa: F401
        except ImportError:
            stub = types.ModuleType("wilds")
            stub.get_dataset = None
            sys.modules["wilds"] = stub
    # the project's own ``trainers`` shim must not shadow the authors' ``trainers`` package
    for name in [m for m in sys.modules if m == "trainers" or m.startswith("trainers.")]:
        del sys.modules[name]


def tiny_openai_state_dict() -> dict:
    """The ``tiny`` CLIP's weights as OpenAI's state dict (what ``clip.build_model`` takes)."""
    from ramt.clip import load_clip, save_openai_checkpoint

    buf = os.path.join(_tmpdir(), "tiny-openai.pt")
    save_openai_checkpoint(load_clip("tiny"), buf)
    return torch.load(buf, map_location="cpu", weights_only=True)


def fp16_keys(model) -> list[str]:
    """The weights the authors' ``clip.build_model`` stored in fp16 (so rounded; the tests round
    the suite's copy of the same keys before comparing)."""
    return sorted(k for k, v in model.state_dict().items() if v.dtype == torch.float16)


def _tmpdir() -> str:
    import tempfile

    return tempfile.mkdtemp(prefix="faithfulness_")


def fixed_images(n: int, size: int = 224, seed: int = IMAGE_SEED) -> torch.Tensor:
    """``n`` fixed normalised-looking images ``[n, 3, size, size]`` (fp32, CPU)."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, size, size, generator=g)


def to_numpy(d: dict) -> dict:
    return {
        k: (v.detach().cpu().double().numpy() if torch.is_tensor(v) else np.asarray(v)) for k, v in d.items()
    }


def save_fixture(name: str, arrays: dict, meta: dict, out_dir: Optional[str] = None) -> str:
    """Write ``<name>.npz`` (arrays, fp64) and ``<name>.json`` (meta: upstream commit, settings)."""
    out_dir = out_dir or FIXTURES
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, f"{name}.npz")
    buf = io.BytesIO()
    np.savez_compressed(buf, **to_numpy(arrays))
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(buf.getvalue())
    os.replace(tmp, path)
    meta_path = os.path.join(out_dir, f"{name}.json")
    with open(meta_path + ".tmp", "w") as f:
        json.dump(meta, f, indent=2, sort_keys=True)
        f.write("\n")
    os.replace(meta_path + ".tmp", meta_path)
    print(f"Wrote {path} and {meta_path}")
    return path
