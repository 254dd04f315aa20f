"""Interrupted runs resume by default and end exactly like an uninterrupted one (issue 12, item 7).

One chain with default settings (no TRAIN.CHECKPOINT_FREQ): Ctrl-C (SIGINT) during epoch 3, the
same command (resumes after epoch 2), SIGKILL during epoch 4, the same command again (resumes
after epoch 3) -> the same masks and accuracy as a straight run.
"""

import os
import shlex
import signal
import subprocess
import sys
import time

import torch


def train_cmd(root, out, epochs=4):
    return [
        sys.executable, "train.py", "--root", str(root), "--seed", "1", "--trainer", "RAMT",
        "--dataset-config-file", "configs/datasets/digits.yaml",
        "--config-file", "configs/trainers/RAMT/vit_b16.yaml", "--output-dir", str(out),
        "MODEL.BACKBONE.NAME", "tiny", "DATASET.NUM_SHOTS", "8", "OPTIM.MAX_EPOCH", str(epochs),
        "OPTIM.LR", "0.003", "DATALOADER.NUM_WORKERS", "0", "DATALOADER.TRAIN_X.BATCH_SIZE", "8",
        "TRAIN.PRINT_FREQ", "1",
    ]  # fmt: skip


def final_bits(out):
    state = torch.load(os.path.join(out, "shared", "model.pth.tar-4"), weights_only=True)
    return torch.cat([m["bits"] for m in state["state_dict"]["masks"]])


def accuracy_line(out):
    return [line for line in open(os.path.join(out, "log.txt")) if line.startswith("* accuracy")]


def _interactive_sigint() -> None:
    """SIGINT as in a terminal: a suite started in the background (``cmd &`` in a script, nohup) has
    it ignored, and a child that starts with SIGINT ignored never sees a KeyboardInterrupt."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_and_stop(cmd, log, marker, sig, env):
    """Start ``cmd``, send ``sig`` once ``marker`` is in the (new) log, return (returncode, stderr)."""
    proc = subprocess.Popen(
        cmd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_interactive_sigint,
    )
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if log.is_file() and marker in log.read_text():
            break
        time.sleep(0.02)
    assert proc.poll() is None, "the run finished before it could be stopped"
    os.kill(proc.pid, sig)
    _, err = proc.communicate(timeout=120)
    return proc.returncode, err


def progress_epochs(log):
    return {line.split("]")[0] + "]" for line in log.read_text().splitlines() if line.startswith("epoch [")}


def test_ctrl_c_then_sigkill_then_relaunch(tmp_path, digits_root):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env.pop("RAMT_COMMAND", None)
    straight = tmp_path / "straight"
    subprocess.run(train_cmd(digits_root, straight), check=True, env=env, capture_output=True)

    out = tmp_path / "stopped"
    cmd = train_cmd(digits_root, out)
    log = out / "log.txt"
    rc, err = start_and_stop(cmd, log, "epoch [3/4] batch [2/", signal.SIGINT, env)
    assert rc == 130 and "Traceback" not in err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err  # one line: what is saved and the exact command
    assert "Interrupted during epoch 3/4; epoch 2 is saved" in lines[0]
    assert lines[0].endswith("Resume with: " + shlex.join(cmd))
    assert not (out / "results.json").exists() and not (out / "shared").exists()
    assert (out / "resume.pth.tar").is_file() and (out / "resume.pth.tar.prev").is_file()

    rc, _ = start_and_stop(cmd, log, "epoch [4/4] batch [2/", signal.SIGKILL, env)
    assert rc == -signal.SIGKILL
    text = log.read_text()
    assert "Previous epoch: 2" in text and progress_epochs(log) == {"epoch [3/4]", "epoch [4/4]"}
    assert not (out / "results.json").exists() and not (out / "shared").exists()

    res = subprocess.run(cmd, env=env, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "Previous epoch: 3" in log.read_text() and progress_epochs(log) == {"epoch [4/4]"}
    assert len([p for p in out.iterdir() if p.name.endswith(".incomplete")]) == 2  # both stopped logs kept
    assert not any(p.name.startswith("resume.pth.tar") for p in out.iterdir())  # removed when finished
    assert torch.equal(final_bits(out), final_bits(straight))
    assert accuracy_line(out) == accuracy_line(straight)
