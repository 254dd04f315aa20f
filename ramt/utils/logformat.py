"""The log format of a run: end signals, result lines, their regexes and the "finished" rule.

The bottom of the suite (stdlib only): the engine prints these signals, the logger, the report,
``parse_test_res.py`` and the run check (``ramt.runs``) read them. The rules are in ``docs/RUNS.md``.

**Finished.** A run is finished when its ``log.txt`` holds a ``* accuracy:`` line after the end
signal (:data:`END_SIGNAL` for training logs, :data:`TEST_LOG_SIGNAL` for evaluation-only logs):
exactly what ``parse_test_res.py`` reads.
"""

from __future__ import annotations

import os
import re
from typing import Optional

__all__ = [
    "END_SIGNAL",
    "RESULT_METRIC",
    "TEST_LOG_SIGNAL",
    "is_finished",
    "log_is_finished",
    "log_result",
    "log_value",
    "metric_regex",
]

#: Printed by the trainer after the last epoch; a training log's result follows it.
END_SIGNAL = "Finish training"
#: Printed by the evaluator before the metric lines; an evaluation-only log's result follows it.
TEST_LOG_SIGNAL = "=> result"
#: The metric that makes a log a finished run.
RESULT_METRIC = "accuracy"


def metric_regex(keyword: str = RESULT_METRIC) -> re.Pattern:
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
    return log_value(log_path, metric_regex(RESULT_METRIC), TEST_LOG_SIGNAL if test_log else END_SIGNAL)


def log_is_finished(log_path: str, test_log: Optional[bool] = False) -> bool:
    """The one definition of a finished log; ``test_log=None`` accepts either kind of log."""
    if test_log is None:
        return log_result(log_path) is not None or log_result(log_path, test_log=True) is not None
    return log_result(log_path, test_log=test_log) is not None


def is_finished(run_dir: str, test_log: Optional[bool] = False) -> bool:
    """Whether ``run_dir/log.txt`` is a finished log (see :func:`log_is_finished`)."""
    return log_is_finished(os.path.join(run_dir, "log.txt"), test_log=test_log)
