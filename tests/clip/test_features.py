"""The feature cache is keyed on image content: an image rewritten in place is never served stale."""

import torch

from ramt.clip.features import items_fingerprint
from tests.fixtures.data_fixtures import synthetic_image
from tests.fixtures.trainer_fixtures import build, method_cfg


def test_items_fingerprint_sees_an_in_place_rewrite(tmp_path):
    p = tmp_path / "a.png"
    synthetic_image(0, 1).save(p)
    before = items_fingerprint([str(p)], [0])
    assert items_fingerprint([str(p)], [0]) == before
    synthetic_image(1, 2).save(p)  # same path, same size on disk or not: new content
    assert items_fingerprint([str(p)], [0]) != before
    assert items_fingerprint([str(p)], [1]) != items_fingerprint([str(p)], [0])


def test_overwritten_test_images_are_re_encoded(tmp_path, data_root, capsys):
    opts = {"CACHE_DIR": str(tmp_path / "cache"), "SPEED.FEATURE_CACHE": True}
    first = build(method_cfg("ZeroshotCLIP", data_root, tmp_path / "a", **opts))
    first.test()
    assert "Saved image features" in capsys.readouterr().out
    again = build(method_cfg("ZeroshotCLIP", data_root, tmp_path / "b", **opts))
    again.test()
    assert "Loading cached image features" in capsys.readouterr().out  # the cache does work

    for i, d in enumerate(again.dm.dataset.test):  # overwrite every test image in place
        synthetic_image((d.label + 1) % 3, 500 + i).save(d.impath)
    third = build(method_cfg("ZeroshotCLIP", data_root, tmp_path / "c", **opts))
    third.test()
    assert "Loading cached image features" not in capsys.readouterr().out
    fresh = build(method_cfg("ZeroshotCLIP", data_root, tmp_path / "d", **{"SPEED.FEATURE_CACHE": False}))
    fresh.test()
    assert torch.equal(
        torch.tensor(third.last_results["accuracy"]), torch.tensor(fresh.last_results["accuracy"])
    )


def test_damaged_feature_cache_is_noticed_and_recomputed(tmp_path, data_root, capsys):
    import glob

    import pytest

    opts = {"CACHE_DIR": str(tmp_path / "cache"), "SPEED.FEATURE_CACHE": True}
    first = build(method_cfg("ZeroshotCLIP", data_root, tmp_path / "a", **opts))
    first.test()
    files = [f for f in glob.glob(str(tmp_path / "cache" / "**" / "*.pt"), recursive=True)]
    assert files
    for f in files:  # invert the stored features, keep the file loadable
        blob = torch.load(f, weights_only=True)
        blob["features"] = -blob["features"]
        torch.save(blob, f)
    capsys.readouterr()
    again = build(method_cfg("ZeroshotCLIP", data_root, tmp_path / "b", **opts))
    with pytest.warns(UserWarning, match="checksum"):
        again.test()
    assert "Saved image features" in capsys.readouterr().out
    assert again.last_results["accuracy"] == first.last_results["accuracy"]
    assert not glob.glob(str(tmp_path / "cache" / "**" / "*.broken-*"), recursive=True)


def test_same_size_rewrite_with_restored_mtime_changes_the_fingerprint(tmp_path):
    import os

    p = tmp_path / "a.bin"
    p.write_bytes(b"abcd")
    st = os.stat(p)
    before = items_fingerprint([str(p)], [0])
    p.write_bytes(b"dcba")
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert os.stat(p).st_mtime_ns == st.st_mtime_ns
    assert items_fingerprint([str(p)], [0]) != before
