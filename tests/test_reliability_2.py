"""Reliability, second round (issue 20): the run lock dies with its owner, nothing is written
outside OUTPUT, one ERROR paragraph per bad input, TensorBoard and log.txt after a stop."""

import os
import signal
import subprocess
import sys
import time

import pytest

from ramt.runs import LOCK_FILE, RunLock, RunLockedError
from ramt.utils.runlock import pid_alive

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def train_cmd(root, out, *opts):
    return [
        sys.executable, "train.py", "--root", str(root), "--seed", "1", "--trainer", "RAMT",
        "--dataset-config-file", "configs/datasets/digits.yaml",
        "--config-file", "configs/trainers/RAMT/vit_b16.yaml", "--output-dir", str(out),
        "MODEL.BACKBONE.NAME", "tiny", "DATASET.NUM_SHOTS", "8", "OPTIM.MAX_EPOCH", "2",
        "OPTIM.LR", "0.003", "DATALOADER.TRAIN_X.BATCH_SIZE", "8", "TRAIN.PRINT_FREQ", "1",
        "TEST.SPLIT", "val", *opts,
    ]  # fmt: skip


def env():
    e = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONPATH=ROOT)
    e.pop("RAMT_COMMAND", None)
    return e


def accuracy_line(out):
    return [line for line in open(os.path.join(out, "log.txt")) if line.startswith("* accuracy")]


def run_until(cmd, log, marker, **kw):
    """Start ``cmd`` and return the process once ``marker`` is in ``log`` (it is still running)."""
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **kw)
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if log.is_file() and marker in log.read_text():
            return proc
        time.sleep(0.02)
    raise AssertionError(f"the run ended before {marker!r}: {proc.communicate()[1][-2000:]}")


# ----------------------------------------------------------------------------- 4: lock dies with its owner

HOLD_WITH_WORKERS = """
import multiprocessing as mp, sys, time
from ramt.runs import RunLock
lock = RunLock(sys.argv[1]).acquire()
ctx = mp.get_context("fork")  # how DataLoader and cache-build workers start
workers = [ctx.Process(target=time.sleep, args=(60,), daemon=True) for _ in range(2)]
for w in workers:
    w.start()
print(" ".join(str(w.pid) for w in workers), flush=True)
time.sleep(60)
"""


def test_kill_9_of_the_holder_frees_the_folder_while_its_workers_live(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_WITH_WORKERS, str(tmp_path)], env=env(), stdout=subprocess.PIPE, text=True
    )
    workers = [int(p) for p in holder.stdout.readline().split()]
    try:
        assert len(workers) == 2
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
        assert all(pid_alive(p) for p in workers)  # orphaned, still running
        with RunLock(str(tmp_path)):  # at once: no "in use by another process (pid <dead>)"
            assert f"pid {os.getpid()}" in (tmp_path / LOCK_FILE).read_text()
    finally:
        for p in workers:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
    assert not (tmp_path / LOCK_FILE).exists()


def test_a_second_lock_in_the_same_process_is_refused(tmp_path):
    with RunLock(str(tmp_path)):
        with pytest.raises(RunLockedError, match="this process"):
            RunLock(str(tmp_path)).acquire()
    with RunLock(str(tmp_path)):  # released: free again
        pass


# ----------------------------------------------------------------------------- 5: no writes outside OUTPUT


@pytest.mark.parametrize(
    "exp, dataset",
    [("../x", "digits"), ("a/../../x", "digits"), ("", "a/b"), ("", ".."), ("", "../trainers/RAMT/vit_b16")],
)
def test_scripts_refuse_path_pieces_leaving_output(tmp_path, exp, dataset):
    e = dict(
        env(), OUTPUT=str(tmp_path / "output"), DATA=str(tmp_path / "data"), SEEDS="1", PYTHON=sys.executable
    )
    e["EXP"] = exp
    res = subprocess.run(["bash", "scripts/ramt/main.sh", dataset, "1", "MODEL.BACKBONE.NAME", "tiny"],
                         cwd=ROOT, env=e, capture_output=True, text=True)  # fmt: skip
    assert res.returncode == 2, res.stdout[-2000:] + res.stderr[-2000:]
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("ERROR:") and "Nothing was written" in lines[0], res.stderr
    assert f"'{exp or dataset}'" in lines[0]  # names the value
    assert list(tmp_path.iterdir()) == []  # nothing under OUTPUT's parent: not even log.txt


# ----------------------------------------------------------------------------- 8: TensorBoard and log.txt after a stop


def scalar_steps(log_dir):
    """``[(tag, step)]`` of every scalar in the event files of ``log_dir``, in file order."""
    from tensorboard.backend.event_processing.event_file_loader import RawEventFileLoader
    from tensorboard.compat.proto.event_pb2 import Event

    out = []
    for name in sorted(os.listdir(log_dir)):
        for raw in RawEventFileLoader(os.path.join(log_dir, name)).Load():
            event = Event.FromString(raw)
            out += [(v.tag, event.step) for v in event.summary.value]
    return out


def test_resume_after_ctrl_c_repeats_no_tensorboard_step_and_logs_the_stop(
    data_root, tmp_path, monkeypatch, capsys
):
    from ramt.engine.tensorboard import TensorBoardLog
    from ramt.train import cli
    from tests.test_train_failures import args

    argv = args(data_root, tmp_path / "out", "OPTIM.MAX_EPOCH", "2", "DATALOADER.TRAIN_X.BATCH_SIZE", "2",
                "TRAIN.CHECKPOINT_FREQ", "1", "TEST.SPLIT", "val")  # fmt: skip
    real_batch = TensorBoardLog.batch

    def stop_in_epoch_2(self, trainer, loss_summary):
        real_batch(self, trainer, loss_summary)
        if trainer.epoch == 1 and trainer.batch_idx == 1:  # two steps of epoch 2 are on disk
            self.flush()
            raise KeyboardInterrupt

    monkeypatch.setattr(TensorBoardLog, "batch", stop_in_epoch_2)
    assert cli(argv) == 130
    monkeypatch.undo()
    assert "Interrupted during epoch 2/2; epoch 1 is saved" in capsys.readouterr().err
    assert cli(argv) == 0
    stopped = [p for p in (tmp_path / "out").iterdir() if p.name.endswith(".incomplete")]
    assert len(stopped) == 1 and "Interrupted during epoch 2/2" in stopped[0].read_text().splitlines()[-1]

    steps = scalar_steps(tmp_path / "out" / "tensorboard")
    assert len(steps) == len(set(steps)), sorted(s for s in steps if steps.count(s) > 1)
    loss = sorted(step for tag, step in steps if tag == "train/loss")
    assert loss == list(range(len(loss))) and len(loss) % 2 == 0  # every step of both epochs, once
    assert sorted(step for tag, step in steps if tag == "train/lr_epoch") == [1, 2]


def test_ctrl_c_before_the_logger_opens_still_reaches_the_resumed_log(
    data_root, tmp_path, monkeypatch, capsys
):
    import ramt.train
    from tests.test_train_failures import args

    out = tmp_path / "out"
    out.mkdir()
    (out / "log.txt").write_text("the stopped attempt's log\n")

    def interrupted(*a, **k):  # e.g. Ctrl-C while the backbone's weights are being hashed
        raise KeyboardInterrupt

    monkeypatch.setattr(ramt.train.RunFolder, "identity", interrupted)
    assert ramt.train.cli(args(data_root, out)) == 130
    err = capsys.readouterr().err.strip()
    assert err.startswith("Interrupted before training started")
    assert (out / "log.txt").read_text().splitlines() == ["the stopped attempt's log", err]
