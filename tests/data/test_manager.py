import pytest
import torch

from ramt.data.datum import Datum
from ramt.data.manager import BadImageError, DataManager, DatasetWrapper, build_data_loader
from ramt.data.transforms import build_transform
from tests.fixtures.data_fixtures import data_cfg

SMALL = {"INPUT.SIZE": (32, 32), "DATALOADER.TRAIN_X.BATCH_SIZE": 4, "DATALOADER.TEST.BATCH_SIZE": 5}


@pytest.fixture
def tiny(tmp_path, make_coop_dataset):
    ds = make_coop_dataset(tmp_path, "caltech101", n_classes=3, n_train=4, n_val=2, n_test=3, size=24)
    return ds


def _items(ds, key):
    return [Datum(f"{ds.image_dir}/{rel}", lab, classname=c) for rel, lab, c in ds.split[key]]


@pytest.mark.parametrize(
    "n, bs, batches, drop", [(10, 32, 1, False), (20, 32, 1, False), (40, 32, 1, True), (64, 32, 2, True)]
)
def test_drop_last_rule(n, bs, batches, drop):
    cfg = data_cfg()
    items = [Datum(f"{i}.jpg", 0) for i in range(n)]
    loader = build_data_loader(cfg, items, bs, None, is_train=True)
    assert loader.drop_last is drop and len(loader) == batches
    test_loader = build_data_loader(cfg, items, bs, None, is_train=False)
    assert test_loader.drop_last is False


def test_empty_loader_is_an_error():
    with pytest.raises(ValueError, match="empty"):
        build_data_loader(data_cfg(), [], 4, None, is_train=True)


def test_wrapper_batches(tiny):
    cfg = data_cfg(tiny.root, **SMALL, **{"DATALOADER.RETURN_IMG0": True})
    tfm = build_transform(cfg, is_train=True)
    loader = build_data_loader(cfg, _items(tiny, "train"), 4, tfm, is_train=True)
    batch = next(iter(loader))
    assert set(batch) == {"img", "label", "domain", "impath", "index", "img0"}
    assert batch["img"].shape == (4, 3, 32, 32) and batch["img0"].shape == (4, 3, 32, 32)
    assert batch["label"].dtype == torch.int64


def test_k_transforms_returns_views(tiny):
    cfg = data_cfg(tiny.root, **SMALL, **{"DATALOADER.K_TRANSFORMS": 2})
    w = DatasetWrapper(cfg, _items(tiny, "train"), build_transform(cfg, True), is_train=True)
    sample = w[0]
    assert isinstance(sample["img"], list) and len(sample["img"]) == 2


def test_corrupt_image_error_and_skip(tiny):
    items = _items(tiny, "test")
    bad = items[0].impath
    with open(bad, "wb") as f:
        f.write(b"not an image at all")
    cfg = data_cfg(tiny.root, **SMALL)
    w = DatasetWrapper(cfg, items, build_transform(cfg, False))
    with pytest.raises(BadImageError) as e:
        w[0]
    assert bad in str(e.value) and "SKIP_BAD_IMAGES" in str(e.value)
    missing = DatasetWrapper(cfg, [Datum(str(tiny.image_dir) + "/nope.jpg", 0)], None)
    with pytest.raises(BadImageError, match="nope.jpg"):
        missing[0]


def test_skip_bad_images_drops_them_from_the_split(tiny, tmp_path, capsys):
    """A bad image is dropped (not replaced by the next one), counted and listed (issue 12, item 5)."""
    items = _items(tiny, "test")
    bad = items[0].impath
    with open(bad, "wb") as f:
        f.write(b"not an image at all")
    cfg = data_cfg(
        tiny.root,
        "Caltech101",
        **SMALL,
        **{"DATASET.SKIP_BAD_IMAGES": True, "CACHE_DIR": str(tmp_path / "c")},
    )
    dm = DataManager(cfg)
    assert dm.bad_images == [bad]
    assert len(dm.dataset.test) == len(items) - 1 and bad not in {d.impath for d in dm.dataset.test}
    seen = [p for batch in dm.test_loader for p in batch["impath"]]
    assert len(seen) == len(items) - 1 and len(set(seen)) == len(seen)  # nothing counted twice
    out = capsys.readouterr().out
    assert "Skipped 1 bad image(s)" in out and bad in out


def test_data_manager_lazy_loaders_and_table(tiny, tmp_path, capsys):
    cfg = data_cfg(
        tiny.root,
        "Caltech101",
        **SMALL,
        **{"DATASET.NUM_SHOTS": 2, "SEED": 1, "CACHE_DIR": str(tmp_path / "c")},
    )
    dm = DataManager(cfg)
    out = capsys.readouterr().out
    assert "Loading dataset: Caltech101" in out
    assert "# classes  3" in out and "# train_x  6" in out and "# val      6" in out and "# test     9" in out
    assert dm.num_classes == 3 and dm.classnames == tiny.classnames and dm.lab2cname[0] == "class_a"
    assert "test_loader" not in vars(dm)  # lazy
    batch = next(iter(dm.test_loader))
    assert batch["img"].shape == (5, 3, 32, 32)
    assert len(dm.train_loader_x) == 1 and dm.train_loader_x.drop_last
    assert dm.val_loader is not None and dm.tfm_train is not None and dm.tfm_test is not None
    assert dm.dataset.split_fingerprint


def test_thousands_separator_table(capsys):
    from ramt.data.datum import DatasetBase

    ds = DatasetBase(
        train_x=[Datum(f"{i}", i % 2, classname=str(i % 2)) for i in range(1600)], test=[Datum("t", 0)]
    )
    DataManager(data_cfg(name="Caltech101"), dataset=ds)
    assert "# train_x  1,600" in capsys.readouterr().out


def test_check_files_lists_missing(tiny, tmp_path):
    import os

    os.remove(_items(tiny, "test")[0].impath)
    cfg = data_cfg(
        tiny.root, "Caltech101", **SMALL, **{"DATASET.CHECK_FILES": True, "CACHE_DIR": str(tmp_path / "c")}
    )
    with pytest.raises(FileNotFoundError, match="1 listed image"):
        DataManager(cfg)


def test_zero_shot_skip_bad_images_reads_only_the_evaluated_split(data_root, tmp_path, monkeypatch):
    """Issue 20, 8a: zero-shot never decodes (nor counts as bad) the training images it does not use."""
    from PIL import Image

    from tests.fixtures.trainer_fixtures import build, method_cfg

    cfg = method_cfg("ZeroshotCLIP", data_root, tmp_path / "zs", **{"DATASET.SKIP_BAD_IMAGES": True})
    probe = DataManager(cfg.clone())
    train_paths = {d.impath for d in probe.dataset.train_x}
    with open(sorted(train_paths)[0], "wb") as f:  # a bad *training* image
        f.write(b"not an image")
    opened: list[str] = []
    real_open = Image.open
    monkeypatch.setattr(Image, "open", lambda fp, *a, **k: opened.append(str(fp)) or real_open(fp, *a, **k))
    trainer = build(cfg)
    assert trainer.dm.bad_images == []
    assert opened and not (set(opened) & train_paths)  # test images were checked, no training image
    # A trainer that trains still checks (and drops) the bad training image.
    ramt = build(method_cfg("RAMT", data_root, tmp_path / "ramt", **{"DATASET.SKIP_BAD_IMAGES": True}))
    assert ramt.dm.bad_images == [sorted(train_paths)[0]]
