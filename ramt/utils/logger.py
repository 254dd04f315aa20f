"""stdout tee into ``log.txt`` (Dassl convention: never overwrite an existing log)."""

from __future__ import annotations

import os
import sys
import time

from .io import mkdir_if_missing
from .logformat import log_is_finished


class Tee:
    """Write to the console and a file; flushing also fsyncs the file."""

    def __init__(self, fpath: str) -> None:
        self.console = sys.stdout
        self.file = open(fpath, "w")
        self.path = fpath

    def write(self, msg: str) -> None:
        self.console.write(msg)
        try:
            self.file.write(msg)
            self.file.flush()  # so that `tail -f log.txt` (and a killed run's log) is up to date
        except OSError as e:  # e.g. a full disk: name the log, not an anonymous stream
            raise OSError(e.errno, e.strerror, self.path) from e

    def flush(self) -> None:
        self.console.flush()
        self.file.flush()
        os.fsync(self.file.fileno())

    def isatty(self) -> bool:
        return False

    def close(self) -> None:
        try:
            self.file.close()
        except OSError:  # the buffered tail could not be written (full disk): already reported
            pass


def setup_logger(output: str) -> str:
    """Tee stdout to ``<output>/log.txt`` and return the path actually used.

    If ``log.txt`` exists and holds a result (a finished run, ``ramt.utils.logformat``), the new log is ``log.txt-<timestamp>`` (Dassl).
    If it exists without a result (a crashed run being re-run), it is kept as
    ``log.txt-<timestamp>.incomplete`` and the new log takes its place, so parsers see the re-run.
    """
    if output.endswith(".txt") or output.endswith(".log"):
        fpath = output
    else:
        fpath = os.path.join(output, "log.txt")
    mkdir_if_missing(os.path.dirname(os.path.abspath(fpath)))
    note = ""
    if os.path.exists(fpath):
        stamp = time.strftime("%Y-%m-%d-%H-%M-%S")
        if log_is_finished(fpath, test_log=None):
            fpath = f"{fpath}-{stamp}"
        else:
            kept = f"{fpath}-{stamp}.incomplete"
            os.replace(fpath, kept)
            note = f"Previous unfinished log kept as {kept}\n"
    if isinstance(sys.stdout, Tee):
        sys.stdout.close()
        sys.stdout = sys.stdout.console
    sys.stdout = Tee(fpath)
    if note:
        print(note, end="")
    return fpath


def close_logger() -> None:
    if isinstance(sys.stdout, Tee):
        tee = sys.stdout
        sys.stdout = tee.console
        tee.close()
