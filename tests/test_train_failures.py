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


# ----------------------------------------------------------------------------- issue 20, items 5 and 7


def tree(path):
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


def test_output_dir_climbing_out_of_itself_writes_nothing(data_root, tmp_path, capsys):
    before = tree(tmp_path)
    out = os.path.join(str(tmp_path), "output", "digits", "RAMT", "..", "..", "..", "escaped", "seed1")
    assert cli(args(data_root, out)) == 2
    (line,) = errors(capsys)
    assert "climbs back out" in line and "Nothing was written" in line
    assert tree(tmp_path) == before  # no lock, no log.txt, no folder


def test_run_folder_outside_the_scripts_output_root_is_refused(data_root, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RAMT_OUTPUT_ROOT", str(tmp_path / "output"))
    before = tree(tmp_path)
    assert cli(args(data_root, tmp_path / "elsewhere" / "seed1")) == 2
    (line,) = errors(capsys)
    assert "outside the output root" in line and str(tmp_path / "output") in line
    assert tree(tmp_path) == before


def test_dataset_name_reaching_another_config_folder_is_refused(data_root, tmp_path, capsys):
    argv = args(data_root, tmp_path / "out")
    argv[argv.index("caltech101")] = "../trainers/RAMT/vit_b16"
    before = tree(tmp_path)
    assert cli(argv) == 2
    (line,) = errors(capsys)
    assert "--dataset-config-file '../trainers/RAMT/vit_b16'" in line and "'..'" in line
    assert tree(tmp_path) == before


def test_unknown_plugin_module_names_ramt_plugins(data_root, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RAMT_PLUGINS", "no_such_module")
    assert cli(args(data_root, tmp_path / "out")) == 2
    (line,) = errors(capsys)
    assert "RAMT_PLUGINS" in line and "no_such_module" in line and "PYTHONPATH" in line
    assert not (tmp_path / "out").exists()


def test_yaml_python_tag_is_one_error_and_never_runs(data_root, tmp_path, capsys):
    marker = tmp_path / "pwned"
    cfg = tmp_path / "evil.yaml"
    cfg.write_text(f'OPTIM:\n  LR: !!python/object/apply:os.system ["touch {marker}"]\n')
    argv = args(data_root, tmp_path / "out")
    argv[argv.index("RAMT/vit_b16")] = str(cfg)
    assert cli(argv) == 2
    (line,) = errors(capsys)
    assert str(cfg) in line and "line 2" in line and "!!python/object/apply:os.system" in line
    assert not marker.exists() and not (tmp_path / "out").exists()


class _Pickled:
    def __reduce__(self):
        return (print, ("a pickled object ran",))


def pickled_run(quick_ramt_run, dest):
    """A copy of the quick-start run whose mask checkpoint holds a pickled Python object."""
    import shutil

    import torch

    shutil.copytree(quick_ramt_run.run_dir, dest)
    ckpt = dest / "shared" / open(dest / "shared" / "checkpoint").read().strip()
    torch.save({"epoch": 2, "state_dict": _Pickled()}, ckpt)
    return dest


def one_error_on_stderr(capsys):
    cap = capsys.readouterr()
    assert "Traceback" not in cap.err and "a pickled object ran" not in cap.out + cap.err
    lines = [line for line in cap.err.splitlines() if line.startswith("ERROR:")]
    assert len(lines) == 1, cap.err
    return lines[0], cap.err


def test_pickled_checkpoint_is_refused_by_eval_export_and_analyze(quick_ramt_run, tmp_path, capsys):
    from ramt.analyze import main as analyze_main
    from ramt.export import main as export_main

    bad = pickled_run(quick_ramt_run, tmp_path / "runs" / "bad")
    argv = [
        "--root", quick_ramt_run.data, "--seed", "1", "--trainer", "RAMT", "--dataset-config-file", "digits",
        "--config-file", "RAMT/digits_vit_b16", "--output-dir", str(tmp_path / "eval"), "--eval-only",
        "--model-dir", str(bad), "MODEL.BACKBONE.NAME", "tiny", "DATASET.NUM_SHOTS", "1", "TEST.SPLIT", "val",
        "DATALOADER.NUM_WORKERS", "0",
    ]  # fmt: skip
    capsys.readouterr()
    assert cli(argv) == 2
    line, _ = one_error_on_stderr(capsys)
    assert "Refusing to load" in line and "pickled Python objects" in line and str(bad) in line

    assert export_main([str(bad), "--format", "masks", "--out", str(tmp_path / "m.safetensors")]) == 2
    line, _ = one_error_on_stderr(capsys)
    assert "Refusing to load" in line and not (tmp_path / "m.safetensors").exists()

    assert analyze_main([str(bad), "--no-plots", "--out", str(tmp_path / "a1")]) == 2
    line, _ = one_error_on_stderr(capsys)
    assert "No readable mask run" in line and "pickled Python objects" in line

    import shutil

    shutil.copytree(quick_ramt_run.run_dir, tmp_path / "runs" / "good")
    assert analyze_main([str(tmp_path / "runs"), "--no-plots", "--out", str(tmp_path / "a2")]) == 0
    cap = capsys.readouterr()
    assert "Traceback" not in cap.err and "ERROR" not in cap.err
    (warning,) = [line for line in cap.err.splitlines() if line.startswith("Warning:")]
    assert str(bad) in warning and "pickled Python objects" in warning
    assert len(open(tmp_path / "a2" / "runs.csv").read().strip().splitlines()) == 2  # header + the good run


def test_cache_dir_errors_name_cache_dir(tmp_path):
    from ramt.train import os_error_message
    from ramt.utils.paths import check_run_paths

    check_run_paths(str(tmp_path / "out"), str(tmp_path / "cache"))
    msg = os_error_message(OSError(errno.EROFS, "Read-only file system", str(tmp_path / "cache" / "images")))
    assert "CACHE_DIR" in msg and "RAMT_CACHE_DIR" in msg and "--output-dir" not in msg
    msg = os_error_message(OSError(errno.EROFS, "Read-only file system", str(tmp_path / "out" / "log.txt")))
    assert "--output-dir" in msg and "CACHE_DIR" not in msg


def test_read_only_cache_dir_is_one_error_naming_cache_dir(data_root, tmp_path, capsys):
    """A real read-only file system as CACHE_DIR (needs root to mount one: skipped elsewhere)."""
    import pytest

    cache = tmp_path / "rocache"
    cache.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(cache)],
                                           capture_output=True).returncode != 0:  # fmt: skip
        pytest.skip("cannot mount a read-only tmpfs here (needs root)")
    try:
        assert cli(args(data_root, tmp_path / "out", "CACHE_DIR", str(cache))) == 2
    finally:
        subprocess.run(["umount", str(cache)], check=True)
    (line,) = errors(capsys)
    assert "CACHE_DIR" in line and str(cache) in line and "--output-dir" not in line
