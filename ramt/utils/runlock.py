"""The run-folder lock: one live process per run folder, released when that process dies.

``<dir>/.ramt.lock`` carries a POSIX record lock (``fcntl.lockf``) and names its holder (PID,
host) for the error message. A record lock belongs to the process that took it: forked children
(DataLoader and cache-build workers) never hold it, so kill -9 of the run frees the folder even
while its orphaned workers are still alive, and the descriptor is opened close-on-exec so that
programs started by the run never see it. Stdlib only.

A record lock is dropped as soon as its process closes *any* descriptor of the file, so the
holder never opens the lock file a second time (a second lock in the same process is refused
from the in-process table instead).
"""

from __future__ import annotations

import os
import re
import socket
import sys
import time
from typing import Optional

__all__ = ["LOCK_FILE", "RunLock", "RunLockedError", "pid_alive"]

#: The lock file of a run folder.
LOCK_FILE = ".ramt.lock"
#: How long a lock held under a dead holder's name is retried (the new holder is still writing its name).
_NAME_WAIT_S = 2.0
#: (st_dev, st_ino) of every lock file this process holds.
_HELD: set[tuple[int, int]] = set()


class RunLockedError(RuntimeError):
    """Another live process holds the run folder."""


def pid_alive(pid: int) -> bool:
    """True when a process ``pid`` exists on this host (one owned by another user counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _holder_pid(text: str) -> Optional[int]:
    m = re.search(r"pid (\d+)", text)
    return int(m.group(1)) if m else None


def _named_holder_is_dead(text: str) -> bool:
    pid = _holder_pid(text)
    host = re.search(r"host (\S+)", text)
    same_host = host is None or host.group(1) == socket.gethostname()
    return pid is not None and same_host and not pid_alive(pid)


class RunLock:
    """An advisory lock on a run folder, held from :meth:`acquire` to :meth:`release`."""

    def __init__(self, run_dir: str) -> None:
        self.run_dir = run_dir
        self.path = os.path.join(run_dir, LOCK_FILE)
        self._fd: Optional[int] = None
        self._key: Optional[tuple[int, int]] = None

    def _holder(self) -> str:
        try:
            with open(self.path, encoding="utf-8") as f:
                return f.read().strip()
        except OSError:
            return ""

    def _refuse(self, holder: str) -> RunLockedError:
        return RunLockedError(
            f"The run folder {self.run_dir} is in use by another process ({holder or 'pid ?, host ?'}; lock "
            f"file {self.path}). Two processes must not write one run. Wait for it to finish, stop it, or "
            "give this run another --output-dir / OUTPUT."
        )

    def _held_here(self) -> bool:
        try:
            st = os.stat(self.path)
        except OSError:
            return False
        return (st.st_dev, st.st_ino) in _HELD

    def acquire(self) -> RunLock:
        import fcntl

        os.makedirs(self.run_dir, exist_ok=True)
        if self._held_here():  # never open the file again here: that would drop our own lock
            raise self._refuse(f"pid {os.getpid()}, host {socket.gethostname()}: this process")
        deadline = time.monotonic() + _NAME_WAIT_S
        for _ in range(1000):
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
            try:
                fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                holder = self._holder()
                if _named_holder_is_dead(holder) and time.monotonic() < deadline:
                    time.sleep(0.05)  # a new holder has the lock but has not written its name yet
                    continue
                raise self._refuse(holder) from None
            try:  # the file may have been removed by a releasing holder between open and lock
                st = os.fstat(fd)
                same = os.path.samestat(st, os.stat(self.path))
            except FileNotFoundError:
                same = False
            if not same:
                os.close(fd)
                continue
            self._take_over(fd, os.read(fd, 4096).decode("utf-8", "replace").strip())
            self._fd, self._key = fd, (st.st_dev, st.st_ino)
            _HELD.add(self._key)
            return self
        raise RunLockedError(f"Could not lock {self.path}: it keeps being replaced by other processes.")

    def _take_over(self, fd: int, previous: str) -> None:
        """Write our name into the lock file (warning when a dead holder's name was left in it)."""
        if previous:
            pid = _holder_pid(previous)
            state = "no longer running" if pid is not None and not pid_alive(pid) else "lock released"
            print(f"Warning: taking over the stale lock {self.path} ({previous}; {state}).", file=sys.stderr)
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, f"pid {os.getpid()}, host {socket.gethostname()}\n".encode())
        os.fsync(fd)

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            os.remove(self.path)
        except OSError:
            pass
        os.close(self._fd)  # closing drops the record lock
        _HELD.discard(self._key)
        self._fd = self._key = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
