"""train.py under failure: clean one-paragraph errors printed once, nothing that looks finished,
a second process refused, a different experiment never resumed (issue 12, items 1, 4, 8)."""

import errno
import os
import subprocess
import sys

import ramt.utils.io as rio
from ramt.runs import LOCK_FILE, RUN_FILE, is_finished
from ramt.train import cli
from tests.fixtures.io_fixtures import FullDiskFile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def args(root, out, *opts):
    return [
        "--root", str(root), "--seed", "1", "--trainer", "RAMT", "--dataset-config-file", "caltech101",
        "--config-file", "RAMT/vit_b16", "--output-dir", str(out),
        "MODEL.BACKBONE.NAME", "tiny", "DATASET.NUM_SHOTS", "2", "OPTIM.MAX_EPOCH", "1",
        "DATALOADER.NUM_WORKERS", "0", "DATALOADER.TRAIN_X.BATCH_SIZE", "4", "DATALOADER.TEST.BATCH_SIZE", "4",
        "USE_CUDA", "False", *opts,
    ]  # fmt: skip


def errors(capsys):
    cap = capsys.readouterr()
    text = cap.out + cap.err
    assert "Traceback" not in text
    return [line for line in text.splitlines() if line.startswith("ERROR:")]


def test_disk_full_on_the_last_write_is_one_error_and_nothing_looks_finished(
    data_root, tmp_path, monkeypatch, capsys
):
    real_open = rio._open_temp

    def open_temp(fd, mode, path):
        f = real_open(fd, mode, path)
        return FullDiskFile(f) if path.endswith("results.json") else f

    monkeypatch.setattr(rio, "_open_temp", open_temp)
    out = tmp_path / "out"
    assert cli(args(data_root, out)) == 2
    lines = errors(capsys)
    assert len(lines) == 1, lines  # once on the terminal
    assert (
        "results.json" in lines[0] and "No space left on device" in lines[0] and "free disk space" in lines[0]
    )
    assert not (out / "results.json").exists()
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]
    assert not is_finished(str(out))  # the log that printed the accuracy was set aside
    assert any(p.name.endswith(".incomplete") for p in out.iterdir())
    assert not (out / LOCK_FILE).exists()


def test_read_only_output_folder(data_root, tmp_path, monkeypatch, capsys):
    out = tmp_path / "ro" / "run"
    real_open = os.open

    def ro_open(path, flags, *a, **k):
        if str(path).startswith(str(tmp_path / "ro")) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            raise OSError(errno.EROFS, "Read-only file system", str(path))
        return real_open(path, flags, *a, **k)

    monkeypatch.setattr(os, "open", ro_open)
    assert cli(args(data_root, out)) == 2
    monkeypatch.undo()
    (line,) = errors(capsys)
    assert str(out) in line and "Read-only file system" in line and "--output-dir" in line


def test_missing_split_file(data_root, tmp_path, capsys):
    os.remove(data_root / "caltech-101" / "split_zhou_Caltech101.json")
    assert cli(args(data_root, tmp_path / "out")) == 2
    (line,) = errors(capsys)
    assert "split_zhou_Caltech101.json" in line and "docs/DATASETS.md" in line


def test_missing_digits_split_file(tmp_path, capsys):
    (tmp_path / "data" / "digits").mkdir(parents=True)
    argv = args(tmp_path / "data", tmp_path / "out")
    argv[argv.index("caltech101")] = "digits"
    assert cli(argv) == 2
    (line,) = errors(capsys)
    assert "split_zhou_Digits.json" in line and "Remove the folder" in line


def test_second_process_on_a_run_folder_is_refused(data_root, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "log.txt").write_text("the first run's log\n")
    hold = "import sys, time\nfrom ramt.runs import RunLock\nRunLock(sys.argv[1]).acquire()\nprint('ok', flush=True)\ntime.sleep(60)"
    holder = subprocess.Popen(
        [sys.executable, "-c", hold, str(out)], env=dict(os.environ, PYTHONPATH=ROOT), stdout=subprocess.PIPE
    )
    try:
        assert holder.stdout.readline().strip() == b"ok"
        assert cli(args(data_root, out)) == 2
    finally:
        holder.kill()
        holder.wait()
    (line,) = errors(capsys)
    assert f"pid {holder.pid}" in line and "in use by another process" in line
    assert (out / "log.txt").read_text() == "the first run's log\n"  # untouched, not renamed
    assert sorted(p.name for p in out.iterdir()) == [LOCK_FILE, "log.txt"]


def test_unfinished_run_of_another_experiment_is_not_resumed(data_root, tmp_path, capsys):
    out = tmp_path / "out"
    assert cli(args(data_root, out, "OPTIM.MAX_EPOCH", "2", "TEST.NO_TEST", "True")) == 0
    os.remove(out / "log.txt")  # as if it had been killed: no result, the resume state is gone too
    assert (out / RUN_FILE).is_file()
    capsys.readouterr()
    assert cli(args(data_root, out, "OPTIM.MAX_EPOCH", "2", "TEST.NO_TEST", "True", "OPTIM.LR", "0.5")) == 2
    (line,) = errors(capsys)
    assert "OPTIM.LR" in line and "unfinished run" in line and "EXP=" in line
