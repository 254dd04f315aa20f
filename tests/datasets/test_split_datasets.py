import hashlib
import os
import random
import shutil

import pytest

from ramt.config import get_cfg_default, merge_from_file
from ramt.data.splits import DATASET_INFO, DatasetNotFoundError, SplitFileNotFoundError
from ramt.datasets import dataset_class
from ramt.registry import DATASET_REGISTRY
from tests.fixtures.data_fixtures import data_cfg

HERE = os.path.dirname(__file__)
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
CALTECH_SPLIT = os.path.join(REPO, "ramt", "data", "assets", "split_zhou_Caltech101.json")

SPLIT_JSON = [i.registry for i in DATASET_INFO.values() if i.split_file and i.registry != "Digits"]


def _cfg(root, name, tmp_path, **kw):
    return data_cfg(root, name, **{"CACHE_DIR": str(tmp_path / "cache"), **kw})


def test_every_record_has_a_class_and_a_config_name():
    for info in DATASET_INFO.values():
        assert dataset_class(info.config_name) is dataset_class(info.registry)
        assert info.registry in DATASET_REGISTRY
        cfg = get_cfg_default()
        merge_from_file(cfg, info.config_name, kind="datasets")
        assert cfg.DATASET.NAME == info.registry


def test_caltech101_real_split_16shot(tmp_path):
    ddir = tmp_path / "data" / "caltech-101"
    ddir.mkdir(parents=True)
    shutil.copy(CALTECH_SPLIT, ddir)
    cfg = _cfg(tmp_path / "data", "Caltech101", tmp_path, **{"DATASET.NUM_SHOTS": 16, "SEED": 1})
    random.seed(1)
    ds = DATASET_REGISTRY.get("Caltech101")(cfg)
    prefix = str(ddir / "101_ObjectCategories") + os.sep
    rel = [d.impath[len(prefix) :] for d in ds.train_x]
    assert hashlib.sha256("\n".join(rel).encode()).hexdigest()[:16] == "e60a836bd33cbba3"
    assert (len(ds.train_x), len(ds.val), len(ds.test), ds.num_classes) == (1600, 400, 2465, 100)
    assert ds.classnames[:3] == ["face", "leopard", "motorbike"]
    assert ds.split_fingerprint.startswith("43ab95e88d2f")
    base = DATASET_REGISTRY.get("Caltech101")(
        _cfg(
            tmp_path / "data",
            "Caltech101",
            tmp_path,
            **{"DATASET.NUM_SHOTS": 16, "SEED": 1, "DATASET.SUBSAMPLE_CLASSES": "base"},
        )
    )
    assert base.num_classes == 50 and len(base.train_x) == 800 and base.train_x[:800] == ds.train_x[:800]


@pytest.mark.parametrize("name", SPLIT_JSON)
def test_split_json_dataset_generic(name, tmp_path, make_coop_dataset):
    info = make_coop_dataset(tmp_path / "data", name, n_classes=3, n_train=5, n_val=4, n_test=2, size=8)
    cfg = _cfg(info.root, name, tmp_path, **{"DATASET.NUM_SHOTS": 2, "SEED": 1})
    ds = DATASET_REGISTRY.get(name)(cfg)
    assert (len(ds.train_x), len(ds.val), len(ds.test)) == (6, 6, 6)
    assert ds.classnames == info.classnames
    assert all(os.path.isfile(d.impath) for d in ds.train_x + ds.test)
    full = DATASET_REGISTRY.get(name)(_cfg(info.root, name, tmp_path))
    assert (len(full.train_x), len(full.val), len(full.test)) == (15, 12, 6)


def test_missing_dataset_folder_message(tmp_path):
    with pytest.raises(DatasetNotFoundError) as e:
        DATASET_REGISTRY.get("OxfordPets")(_cfg(tmp_path, "OxfordPets", tmp_path))
    msg = str(e.value)
    assert os.path.join(str(tmp_path), "oxford_pets") in msg
    assert "OxfordPets" in msg and "ramt.data.prepare oxford_pets" in msg and "--root" in msg
    assert "docs/DATASETS.md" in msg


def test_missing_split_message(tmp_path):
    (tmp_path / "eurosat" / "2750").mkdir(parents=True)
    with pytest.raises(SplitFileNotFoundError) as e:
        DATASET_REGISTRY.get("EuroSAT")(_cfg(tmp_path, "EuroSAT", tmp_path))
    msg = str(e.value)
    assert os.path.join(str(tmp_path), "eurosat", "split_zhou_EuroSAT.json") in msg
    assert "1Ip7yaCWFi0eaOFUGga0lUdVi_DDQth1o" in msg


def test_empty_root_is_explained(tmp_path, monkeypatch):
    monkeypatch.delenv("DATA", raising=False)
    with pytest.raises(DatasetNotFoundError, match="--root"):
        DATASET_REGISTRY.get("DescribableTextures")(_cfg("", "DescribableTextures", tmp_path))


def test_fgvc_aircraft_list_files(tmp_path, make_coop_dataset):
    info = make_coop_dataset(
        tmp_path / "data",
        "fgvc_aircraft",
        classnames=["707-320", "A340-500", "Cessna 172"],
        n_train=3,
        n_val=2,
        n_test=2,
        size=8,
    )
    ds = DATASET_REGISTRY.get("FGVCAircraft")(_cfg(info.root, "FGVCAircraft", tmp_path))
    assert ds.classnames == ["707-320", "A340-500", "Cessna 172"]
    assert (len(ds.train_x), len(ds.val), len(ds.test)) == (9, 6, 6)
    assert ds.train_x[0].impath == os.path.join(info.dataset_dir, "images", "0000001.jpg")
    assert all(os.path.isfile(d.impath) for d in ds.train_x)
    fs = DATASET_REGISTRY.get("FGVCAircraft")(
        _cfg(info.root, "FGVCAircraft", tmp_path, **{"DATASET.NUM_SHOTS": 1, "SEED": 1})
    )
    assert len(fs.train_x) == 3 and len(fs.val) == 3
    os.remove(os.path.join(info.dataset_dir, "images_variant_val.txt"))
    with pytest.raises(SplitFileNotFoundError, match="images_variant_val.txt"):
        DATASET_REGISTRY.get("FGVCAircraft")(_cfg(info.root, "FGVCAircraft", tmp_path))


def test_digits_dataset(digits_root, tmp_path):
    ds = DATASET_REGISTRY.get("Digits")(
        _cfg(digits_root, "Digits", tmp_path, **{"DATASET.NUM_SHOTS": 4, "SEED": 1})
    )
    assert ds.num_classes == 10 and ds.classnames[0] == "zero" and ds.classnames[9] == "nine"
    assert (len(ds.train_x), len(ds.val), len(ds.test)) == (40, 40, 540)


def test_data_root_read_only(tmp_path, make_coop_dataset, monkeypatch):
    import builtins
    import tempfile

    info = make_coop_dataset(tmp_path / "data", "dtd", n_classes=2, n_train=3, n_val=2, n_test=1, size=8)
    before = sorted(os.walk(info.root))
    for dirpath, _, _ in os.walk(info.root):
        os.chmod(dirpath, 0o555)

    # chmod does not stop root: also refuse every write under the data root explicitly
    def guard(path):
        if str(os.path.abspath(str(path))).startswith(info.root):
            raise PermissionError(f"write under the read-only data root: {path}")

    real_open, real_mkstemp, real_makedirs = builtins.open, tempfile.mkstemp, os.makedirs

    def fake_open(file, mode="r", *a, **k):
        if any(c in mode for c in "wax+"):
            guard(file)
        return real_open(file, mode, *a, **k)

    monkeypatch.setattr(builtins, "open", fake_open)
    monkeypatch.setattr(
        tempfile, "mkstemp", lambda *a, **k: (guard(k.get("dir", "")), real_mkstemp(*a, **k))[1]
    )
    monkeypatch.setattr(os, "makedirs", lambda p, *a, **k: (guard(p), real_makedirs(p, *a, **k))[1])
    try:
        ds = DATASET_REGISTRY.get("DescribableTextures")(
            _cfg(info.root, "DescribableTextures", tmp_path, **{"DATASET.NUM_SHOTS": 1, "SEED": 2})
        )
        assert len(ds.train_x) == 2
        assert sorted(os.walk(info.root)) == before
    finally:
        for dirpath, _, _ in os.walk(info.root):
            os.chmod(dirpath, 0o755)
