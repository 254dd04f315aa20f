"""A run killed with SIGKILL mid-epoch and re-launched ends exactly like an uninterrupted one."""

import os
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
        "TRAIN.CHECKPOINT_FREQ", "1", "TRAIN.PRINT_FREQ", "1",
    ]  # fmt: skip


def final_bits(out):
    state = torch.load(os.path.join(out, "shared", "model.pth.tar-4"), weights_only=True)
    return torch.cat([m["bits"] for m in state["state_dict"]["masks"]])


def accuracy_line(out):
    return [line for line in open(os.path.join(out, "log.txt")) if line.startswith("* accuracy")]


def test_sigkill_during_epoch_2_then_relaunch(tmp_path, digits_root):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    straight = tmp_path / "straight"
    subprocess.run(train_cmd(digits_root, straight), check=True, env=env, capture_output=True)

    killed = tmp_path / "killed"
    proc = subprocess.Popen(
        train_cmd(digits_root, killed), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    log = killed / "log.txt"
    deadline = time.time() + 120
    while time.time() < deadline:
        if log.is_file() and "epoch [2/4] batch [2/" in log.read_text():
            break
        if proc.poll() is not None:
            break
        time.sleep(0.02)
    assert proc.poll() is None, "the run finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (killed / "results.json").exists()
    assert not (killed / "shared").exists()  # no final-looking checkpoint
    assert (killed / "resume.pth.tar").is_file()  # epoch 1's resume state

    res = subprocess.run(train_cmd(digits_root, killed), env=env, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "Found checkpoint at" in log.read_text() and "Previous epoch: 1" in log.read_text()
    assert any(p.name.endswith(".incomplete") for p in killed.iterdir())  # the killed log is kept
    assert torch.equal(final_bits(killed), final_bits(straight))
    assert accuracy_line(killed) == accuracy_line(straight)
