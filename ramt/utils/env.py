"""A cheap environment report (no shelling out to external tools)."""

from __future__ import annotations

import platform
import sys

import torch


def collect_env_info() -> str:
    lines = [
        f"Python: {sys.version.split()[0]} ({platform.platform()})",
        f"PyTorch: {torch.__version__}",
        f"CUDA available: {torch.cuda.is_available()}",
    ]
    if torch.cuda.is_available():
        lines.append(f"CUDA: {torch.version.cuda}; GPU: {torch.cuda.get_device_name(0)}")
    try:
        import torchvision  # local import: optional package, only for its version line

        lines.append(f"torchvision: {torchvision.__version__}")
    except ImportError:  # pragma: no cover
        pass
    try:
        import open_clip  # local import: keeps the bottom layer free of open_clip

        lines.append(f"open_clip: {open_clip.__version__}")
    except ImportError:  # pragma: no cover
        pass
    lines.append(f"CPU threads: {torch.get_num_threads()}")
    return "\n".join(lines)
