"""Loader workers that die with their parent: a killed run leaves no orphan decoding images."""

from __future__ import annotations

import ctypes
import functools
import os
import signal
import sys
from typing import Callable

_PR_SET_PDEATHSIG = 1


def _die_with_parent(worker_id: int, parent: int) -> None:
    """Ask the kernel to kill this worker when its parent dies (Linux); exit if it already has."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        except (OSError, AttributeError):  # no prctl: torch's own watchdog still ends the worker
            pass
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def worker_init(parent: int | None = None) -> Callable[[int], None]:
    """A ``worker_init_fn`` binding the workers' lifetime to this process (picklable)."""
    return functools.partial(_die_with_parent, parent=os.getpid() if parent is None else parent)
