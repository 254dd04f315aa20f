"""Atomic writes: normal permissions (umask), a full disk named as such, no temporary file left."""

import errno
import os
import stat

import pytest
import torch

import ramt.utils.io as rio
from tests.fixtures.io_fixtures import FullDiskFile


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o027, 0o640)])
def test_results_and_checkpoints_respect_the_umask(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        rio.atomic_write_json(str(tmp_path / "results.json"), {"a": 1})
        rio.atomic_torch_save({"w": torch.zeros(2)}, str(tmp_path / "model.pth.tar-1"))
        (tmp_path / "log.txt").write_text("x")
    finally:
        os.umask(old)
    for name in ("results.json", "model.pth.tar-1"):
        got = stat.S_IMODE(os.stat(tmp_path / name).st_mode)
        assert got == mode == stat.S_IMODE(os.stat(tmp_path / "log.txt").st_mode), (name, oct(got))


def test_full_disk_during_torch_save_is_an_oserror_naming_the_file(tmp_path, monkeypatch):

    real = rio._open_temp
    monkeypatch.setattr(rio, "_open_temp", lambda fd, mode, path: FullDiskFile(real(fd, mode, path)))
    target = tmp_path / "model.pth.tar-3"
    with pytest.raises(OSError) as e:
        rio.atomic_torch_save({"w": torch.zeros(1000)}, str(target))
    assert e.value.errno == errno.ENOSPC and e.value.filename == str(target)
    assert list(tmp_path.iterdir()) == []
