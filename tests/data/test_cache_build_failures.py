"""Cache builds that fail: kill -9 leaves no orphan workers and the rerun succeeds; a full
CACHE_DIR gives one ERROR line naming it, no Bus error and no partial folder."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Builds the training-originals cache of the images in argv[1] under argv[2] with 2 workers and
# prints a digest of it. With argv[3] == "slow" each decode sleeps, so the build can be killed.
BUILD = """
import hashlib, os, sys, time
import numpy as np
from ramt.data import image_cache
paths = sorted(os.path.join(sys.argv[1], f) for f in os.listdir(sys.argv[1]))
if sys.argv[3] == "slow":
    real = image_cache._load_original
    def slow(p):
        open(os.path.join(sys.argv[2], "..", "started"), "w").close()
        time.sleep(0.2)
        return real(p)
    image_cache._load_original = slow
cache = image_cache.originals_cache(sys.argv[2], paths, False, 2)
print("digest", hashlib.sha256(np.asarray(cache.pixels).tobytes()).hexdigest())
"""


def _images(folder, n=40):
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (40, 30, 3), dtype=np.uint8)).save(folder / f"{i:03d}.png")
    return str(folder)


def _build(images, cache, mode="fast", **kw):
    env = dict(os.environ, PYTHONPATH=ROOT)
    cmd = [sys.executable, "-c", BUILD, images, str(cache), mode]
    return subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw
    )


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as f:
            return "\nState:\tZ" not in f.read()
    except OSError:
        return False


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="needs Linux /proc to find the workers")
def test_kill_9_during_build_leaves_no_orphans_and_the_rerun_succeeds(tmp_path):
    images = _images(tmp_path / "images")
    cache = tmp_path / "cache" / "images"
    proc = _build(images, cache, "slow")
    deadline = time.time() + 60
    while not (tmp_path / "cache" / "started").exists() or len(_children(proc.pid)) < 2:
        assert proc.poll() is None and time.time() < deadline, proc.communicate()
        time.sleep(0.05)
    workers = _children(proc.pid)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.time() + 10
    while any(_alive(w) for w in workers) and time.time() < deadline:
        time.sleep(0.05)
    assert not any(_alive(w) for w in workers), "loader workers outlived their parent"
    assert any(".partial-" in d for d in os.listdir(cache))  # the killed build's leftovers
    out, err = _build(images, cache).communicate()
    assert "digest" in out, err
    assert os.listdir(cache) == [d for d in os.listdir(cache) if "." not in d]  # partial removed
    ref, _ = _build(images, tmp_path / "fresh" / "images").communicate()
    assert out.split("digest")[1] == ref.split("digest")[1]


def _mount_tmpfs(folder, size="1m") -> bool:
    if os.geteuid() != 0:
        return False
    folder.mkdir(parents=True)
    res = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True
    )
    return res.returncode == 0


@pytest.mark.parametrize("check_first", [True, False], ids=["up-front", "while-writing"])
def test_full_cache_dir_is_one_error_line(tmp_path, check_first):
    mnt = tmp_path / "small"
    if not _mount_tmpfs(mnt):
        pytest.skip("needs root and tmpfs mounts (mount -t tmpfs) to fill a CACHE_DIR")
    try:
        images = _images(tmp_path / "images", n=60)  # 60 x 40 x 30 x 3 = 216 kB of pixels
        with open(mnt / "filler", "wb") as f:  # leave ~100 kB free
            f.write(b"\0" * (1024 * 1024 - 100 * 1024))
        env = dict(os.environ, PYTHONPATH=ROOT)
        code = BUILD
        if not check_first:  # skip the up-front check: the write itself hits the full disk
            code = "import ramt.data.image_cache as c; c.check_free_space = lambda *a: None\n" + BUILD
        code = (
            "import sys\nfrom ramt.data.image_cache import CacheSpaceError\ntry:\n"
            + "".join(f"    {line}\n" for line in code.splitlines())
            + "except CacheSpaceError as e:\n    print('ERROR: ' + str(e), file=sys.stderr)\n    sys.exit(2)\n"
        )
        res = subprocess.run(
            [sys.executable, "-c", code, images, str(mnt / "cache" / "images"), "fast"],
            cwd=ROOT, env=env, capture_output=True, text=True,
        )  # fmt: skip
        assert res.returncode == 2, res.stderr
        lines = [line for line in res.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("ERROR: ") and "CACHE_DIR" in lines[0], res.stderr
        assert str(mnt / "cache") in lines[0] and "MiB" in lines[0]
        assert "Bus error" not in res.stderr
        assert os.listdir(mnt / "cache" / "images") == []  # no partial folder left
    finally:
        subprocess.run(["umount", str(mnt)], capture_output=True)
