"""PyTorch's on-disk compile caches, shared by every run (``SPEED.COMPILE``; docs/SPEED.md).

``torch.compile`` costs 40-60 s per process for the R-AMT step on ViT-B/16. Inductor's FX-graph
cache and the AOTAutograd cache store the compiled kernels and graphs on disk, keyed by the
graph, the shapes and the PyTorch version, so a later process (another seed, another job of a
sweep, a Slurm task on a node that shares the folder) recompiles in seconds. By default
PyTorch keeps them in ``/tmp/torchinductor_<user>``, which is per node and often wiped; the
project points them at ``<CACHE_DIR>/torch_compile`` unless the user set the variables.
"""

from __future__ import annotations

import os
from typing import Optional

from ramt.config import get_cfg_default, resolve_cache_dir

COMPILE_CACHE_ENV = {
    "TORCHINDUCTOR_FX_GRAPH_CACHE": "1",
    "TORCHINDUCTOR_AUTOGRAD_CACHE": "1",
}


def compile_cache_dir(cache_root: Optional[str] = None) -> str:
    if cache_root is None:
        cache_root = resolve_cache_dir(get_cfg_default())
    return os.path.join(cache_root, "torch_compile")


def enable_compile_caches(cache_root: Optional[str] = None) -> dict[str, str]:
    """Set the compile-cache variables that the user has not set; return the values in effect.

    Must run before the first ``torch.compile`` of the process (inductor reads them then).
    """
    wanted = dict(COMPILE_CACHE_ENV, TORCHINDUCTOR_CACHE_DIR=compile_cache_dir(cache_root))
    for key, value in wanted.items():
        os.environ.setdefault(key, value)
    return {k: os.environ[k] for k in wanted}
