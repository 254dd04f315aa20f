"""Run-folder state shared by train.py and the runner scripts (stdlib only: fast to import).

A run is *finished* when its ``log.txt`` holds a ``* accuracy:`` line after the end signal
(``Finish training`` for training logs, ``=> result`` for evaluation-only logs): exactly
what ``parse_test_res.py`` reads. Anything else in a run folder is an unfinished run that
the scripts re-run (resuming from its last checkpoint when there is one).

    python -m ramt.runs is-finished DIR [--test-log]    # exit 0 if finished, 1 otherwise
"""

from __future__ import annotations

import argparse
import os
import re
import sys

END_SIGNAL = "Finish training"
TEST_LOG_SIGNAL = "=> result"


def metric_regex(keyword: str = "accuracy") -> re.Pattern:
    """CoOp's pattern for a ``* <keyword>: X%`` result line."""
    return re.compile(rf"\* {re.escape(keyword)}: ([\.\deE+-]+)%")


def log_value(log_path: str, regex: re.Pattern, end_signal: str = END_SIGNAL):
    """The last value matching ``regex`` after a line equal to ``end_signal`` (None if absent)."""
    if not os.path.isfile(log_path):
        return None
    good, value = False, None
    with open(log_path, errors="replace") as f:
        for line in f:
            line = line.strip()
            if line == end_signal:
                good = True
            m = regex.search(line)
            if m and good:
                value = float(m.group(1))
    return value


def log_result(log_path: str, test_log: bool = False):
    """The accuracy after the end signal in ``log_path`` (None if absent)."""
    return log_value(log_path, metric_regex("accuracy"), TEST_LOG_SIGNAL if test_log else END_SIGNAL)


def is_finished(run_dir: str, test_log: bool = False) -> bool:
    return log_result(os.path.join(run_dir, "log.txt"), test_log=test_log) is not None


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m ramt.runs")
    sub = p.add_subparsers(dest="cmd", required=True)
    q = sub.add_parser("is-finished", help="exit 0 when DIR/log.txt holds a result")
    q.add_argument("dir")
    q.add_argument("--test-log", action="store_true")
    args = p.parse_args(argv)
    return 0 if is_finished(args.dir, args.test_log) else 1


if __name__ == "__main__":
    sys.exit(main())
