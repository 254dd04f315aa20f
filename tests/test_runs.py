"""ramt.runs: the one definition of a finished run, run identity records and the run-folder lock."""

import os
import socket
import subprocess
import sys
import textwrap

import pytest

from ramt import runs
from ramt.runs import (
    END_SIGNAL,
    TEST_LOG_SIGNAL,
    RunIdentityError,
    RunLock,
    RunLockedError,
    check_identity,
    identity_differences,
    is_finished,
    write_identity,
)
from ramt.utils.logger import close_logger, setup_logger

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _log(folder, text):
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "log.txt"), "w") as f:
        f.write(textwrap.dedent(text))


# ----------------------------------------------------------------------------- finished


@pytest.mark.parametrize(
    "text, train, test",
    [
        (f"epoch [1/1]\n{END_SIGNAL}\n{TEST_LOG_SIGNAL}\n* accuracy: 50.00%\n", True, True),
        (f"{TEST_LOG_SIGNAL}\n* accuracy: 40.00%\n", False, True),
        ("epoch [1/2]\n* accuracy: 40.00%\n", False, False),  # a result line without an end signal
        (f"{END_SIGNAL}\n", False, False),
    ],
)
def test_finished_definition(tmp_path, text, train, test):
    _log(tmp_path, text)
    assert is_finished(str(tmp_path)) is train
    assert is_finished(str(tmp_path), test_log=True) is test
    assert is_finished(str(tmp_path), test_log=None) is (train or test)


def test_log_writer_uses_the_same_definition(tmp_path):
    """A stray ``* accuracy:`` line without an end signal is an unfinished log: it is set aside."""
    _log(tmp_path, "epoch [1/2]\n* accuracy: 40.00%\n")
    try:
        path = setup_logger(str(tmp_path))
    finally:
        close_logger()
    assert path == str(tmp_path / "log.txt")
    assert any(p.name.endswith(".incomplete") for p in tmp_path.iterdir())


def test_signals_are_printed_from_the_constants():
    """Writers print the signals from ramt.runs, never as literals of their own."""
    for rel in ("ramt/engine/trainer.py", "ramt/engine/evaluator.py", "ramt/utils/logger.py"):
        src = open(os.path.join(ROOT, rel)).read()
        assert '"Finish training"' not in src and '"=> result' not in src, rel
    assert not hasattr(__import__("ramt.utils.logger", fromlist=["x"]), "RESULT_SIGNALS")


# ----------------------------------------------------------------------------- identity

IDENT = {"config.OPTIM.LR": 0.1, "config.MASK.GDR_LAMBDA": -1.0, "backbone": "tiny:abc", "code": "0.1.0"}


def test_identity_mismatch_names_the_keys_and_the_fix(tmp_path):
    write_identity(str(tmp_path), dict(IDENT, split="s1"))
    check_identity(str(tmp_path), dict(IDENT, split="s1"))
    check_identity(str(tmp_path), dict(IDENT))  # split not known yet: checked later
    with pytest.raises(RunIdentityError) as e:
        check_identity(
            str(tmp_path), dict(IDENT, **{"config.MASK.GDR_LAMBDA": 0.3}, split="s1"), finished=True
        )
    msg = str(e.value)
    assert "MASK.GDR_LAMBDA: recorded -1.0, now 0.3" in msg and "EXP=" in msg and "OUTPUT" in msg
    assert "finished run" in msg and str(tmp_path) in msg
    with pytest.raises(RunIdentityError, match="backbone"):
        check_identity(str(tmp_path), dict(IDENT, backbone="sha256:ffff", split="s1"))
    with pytest.raises(RunIdentityError, match="split: recorded 's1', now 's2'"):
        check_identity(str(tmp_path), dict(IDENT, split="s2"))


def test_a_key_added_later_at_its_default_is_not_a_difference():
    current = dict(IDENT, **{"config.TRAIN.PRINT_FREQ_NEW": 1, "config.OPTIM.MAX_EPOCH": 10})
    diffs = identity_differences(IDENT, current)
    assert [d[0] for d in diffs] == ["config.TRAIN.PRINT_FREQ_NEW"]  # OPTIM.MAX_EPOCH 10 is the default


def test_run_identity_ignores_paths_and_verbosity():
    from ramt.config import get_cfg_default

    a, b = get_cfg_default(), get_cfg_default()
    a.MODEL.BACKBONE.NAME = b.MODEL.BACKBONE.NAME = "tiny"
    b.OUTPUT_DIR, b.DATASET.ROOT, b.VERBOSE, b.TRAIN.PRINT_FREQ = "/elsewhere", "/data2", False, 1
    assert identity_differences(runs.run_identity(a), runs.run_identity(b)) == []
    b.OPTIM.LR = 0.5
    assert [d[0] for d in identity_differences(runs.run_identity(a), runs.run_identity(b))] == [
        "config.OPTIM.LR"
    ]


def test_weights_identity_is_the_file_content(tmp_path):
    from ramt.clip.features import weights_identity
    from ramt.config import get_cfg_default

    cfg = get_cfg_default()
    cfg.CACHE_DIR = str(tmp_path / "cache")
    cfg.MODEL.BACKBONE.PATH = str(tmp_path / "w.pt")
    (tmp_path / "w.pt").write_bytes(b"a" * 100)
    first = weights_identity(cfg)
    (tmp_path / "w2.pt").write_bytes(b"a" * 100)
    cfg.MODEL.BACKBONE.PATH = str(tmp_path / "w2.pt")
    assert weights_identity(cfg) == first  # same content, another path
    (tmp_path / "w2.pt").write_bytes(b"b" * 100)
    assert weights_identity(cfg) != first


def test_is_finished_cli_exit_codes(tmp_path):
    _log(tmp_path / "run", f"{END_SIGNAL}\n* accuracy: 1.00%\n")
    assert runs.main(["is-finished", str(tmp_path / "run")]) == 0
    assert runs.main(["is-finished", str(tmp_path / "nope")]) == 1


# ----------------------------------------------------------------------------- lock

HOLD = """
import sys, time
from ramt.runs import RunLock
lock = RunLock(sys.argv[1]).acquire()
print("locked", flush=True)
time.sleep(60)
"""


def test_second_process_is_refused_with_pid_and_host(tmp_path):
    env = dict(os.environ, PYTHONPATH=ROOT)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(tmp_path)], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(RunLockedError) as e:
            RunLock(str(tmp_path)).acquire()
        assert f"pid {holder.pid}" in str(e.value) and socket.gethostname() in str(e.value)
    finally:
        holder.kill()
        holder.wait()
    # the holder died by SIGKILL: its lock file is left behind, its lock is free -> taken over
    lock = RunLock(str(tmp_path))
    lock.acquire()
    lock.release()
    assert not (tmp_path / runs.LOCK_FILE).exists()


def test_stale_lock_is_taken_over_with_a_warning(tmp_path, capsys):
    (tmp_path / runs.LOCK_FILE).write_text("pid 999999999, host somewhere\n")
    with RunLock(str(tmp_path)):
        assert f"pid {os.getpid()}" in (tmp_path / runs.LOCK_FILE).read_text()
    err = capsys.readouterr().err
    assert "stale lock" in err and "pid 999999999" in err and "no longer running" in err
