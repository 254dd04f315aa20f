import os

import pytest

import ramt.datasets  # noqa: F401
from ramt.data.splits import DatasetNotFoundError
from ramt.registry import DATASET_REGISTRY
from tests.fixtures.data_fixtures import data_cfg, write_wnid_tree

WNIDS = ["n01440764", "n01443537", "n01484850"]
NAMES = {"n01440764": "tench", "n01443537": "goldfish", "n01484850": "great white shark"}


def _classnames(path, wnids):
    with open(path, "w") as f:
        f.write("".join(f"{w} {NAMES.get(w, 'name of ' + w)}\n" for w in wnids))


def _cfg(root, name, tmp_path, **kw):
    return data_cfg(root, name, **{"CACHE_DIR": str(tmp_path / "cache"), **kw})


@pytest.fixture
def imagenet_root(tmp_path):
    root = tmp_path / "data"
    images = root / "imagenet" / "images"
    write_wnid_tree(str(images / "train"), list(reversed(WNIDS)), per_class=8, size=8, extra_files=())
    write_wnid_tree(str(images / "val"), WNIDS, per_class=2, size=8, extra_files=())
    _classnames(str(root / "imagenet" / "classnames.txt"), WNIDS)
    return root


def test_imagenet_scan_sorted(imagenet_root, tmp_path):
    ds = DATASET_REGISTRY.get("ImageNet")(_cfg(imagenet_root, "ImageNet", tmp_path))
    assert ds.classnames == ["tench", "goldfish", "great white shark"]
    assert len(ds.train_x) == 24 and len(ds.test) == 6 and ds.val is None
    names = [os.path.basename(d.impath) for d in ds.train_x[:8]]
    assert names == sorted(names) and all(d.label == 0 for d in ds.train_x[:8])
    assert ds.test[0].impath.endswith(os.path.join("images", "val", "n01440764", "n01440764_00000.JPEG"))
    # the index is cached under the cache dir, never under the data root
    assert os.listdir(tmp_path / "cache" / "index")
    assert sorted(os.listdir(imagenet_root / "imagenet")) == ["classnames.txt", "images"]


def test_imagenet_fewshot_val_holdout(imagenet_root, tmp_path, capsys):
    import random

    cfg = _cfg(imagenet_root, "ImageNet", tmp_path, **{"DATASET.NUM_SHOTS": 2, "SEED": 1})
    random.seed(1)
    ds = DATASET_REGISTRY.get("ImageNet")(cfg)
    assert len(ds.train_x) == 6 and len(ds.val) == 6 and len(ds.test) == 6
    assert not {d.impath for d in ds.train_x} & {d.impath for d in ds.val}
    assert {d.impath for d in ds.val} <= {
        d.impath for d in DATASET_REGISTRY.get("ImageNet")(_cfg(imagenet_root, "ImageNet", tmp_path)).train_x
    }
    # the train subset equals the plain K-shot draw of the same seed (val drawn afterwards)
    from ramt.data.fewshot import generate_fewshot

    full = DATASET_REGISTRY.get("ImageNet")(_cfg(imagenet_root, "ImageNet", tmp_path))
    random.seed(1)
    assert generate_fewshot(full.train_x, 2) == ds.train_x
    again = DATASET_REGISTRY.get("ImageNet")(cfg)
    assert "Loading preprocessed few-shot data" in capsys.readouterr().out
    assert again.train_x == ds.train_x and again.val == ds.val


def test_imagenet_missing_classnames_falls_back_only_for_1000(imagenet_root, tmp_path):
    os.remove(imagenet_root / "imagenet" / "classnames.txt")
    with pytest.raises(DatasetNotFoundError, match="classnames.txt"):
        DATASET_REGISTRY.get("ImageNet")(_cfg(imagenet_root, "ImageNet", tmp_path))


def test_imagenet_a_style_scan(tmp_path, capsys):
    root = tmp_path / "data"
    wnids = [f"n{i:08d}" for i in range(200)]
    write_wnid_tree(str(root / "imagenet-adversarial" / "imagenet-a"), wnids, per_class=1, size=4)
    _classnames(str(root / "imagenet-adversarial" / "classnames.txt"), list(reversed(wnids)) + ["n99999999"])
    ds = DATASET_REGISTRY.get("ImageNetA")(_cfg(root, "ImageNetA", tmp_path))
    assert ds.num_classes == 200 and len(ds.test) == 200 and ds.train_x == []
    assert ds.classnames[0] == "name of n00000000" and ds.classnames[199] == "name of n00000199"
    assert [d.label for d in ds.test] == list(range(200))


def test_imagenet_r_uses_imagenet_classnames_when_missing(tmp_path, imagenet_root, capsys):
    write_wnid_tree(str(imagenet_root / "imagenet-rendition" / "imagenet-r"), WNIDS[1:], per_class=2, size=4)
    ds = DATASET_REGISTRY.get("ImageNetR")(_cfg(imagenet_root, "ImageNetR", tmp_path))
    assert ds.classnames == ["goldfish", "great white shark"]
    assert "Note:" in capsys.readouterr().out


def test_imagenet_sketch_open_clip_fallback(tmp_path, capsys):
    root = tmp_path / "data"
    wnids = [f"n{i:08d}" for i in range(1000)]
    image_dir = root / "imagenet-sketch" / "images"
    for w in wnids:
        (image_dir / w).mkdir(parents=True)
    write_wnid_tree(str(image_dir), wnids[:2], per_class=1, size=4, extra_files=())
    ds = DATASET_REGISTRY.get("ImageNetSketch")(_cfg(root, "ImageNetSketch", tmp_path))
    assert "open_clip" in capsys.readouterr().out
    from open_clip.zero_shot_metadata import IMAGENET_CLASSNAMES

    assert ds.classnames == list(IMAGENET_CLASSNAMES) and len(ds.test) == 2


def test_imagenetv2_numeric_folders(tmp_path, imagenet_root):
    ddir = imagenet_root / "imagenetv2"
    image_dir = ddir / "imagenetv2-matched-frequency-format-val"
    for i in (0, 2, 10):
        write_wnid_tree(str(image_dir), [str(i)], per_class=1, size=4, extra_files=())
    _classnames(str(ddir / "classnames.txt"), [f"n{i:08d}" for i in range(12)])
    ds = DATASET_REGISTRY.get("ImageNetV2")(_cfg(imagenet_root, "ImageNetV2", tmp_path))
    assert [d.label for d in ds.test] == [0, 2, 10]
    assert ds.num_classes == 12 and ds.test[2].classname == "name of n00000010"


def test_imagenet_missing_folder(tmp_path):
    with pytest.raises(DatasetNotFoundError) as e:
        DATASET_REGISTRY.get("ImageNetA")(_cfg(tmp_path, "ImageNetA", tmp_path))
    assert os.path.join(str(tmp_path), "imagenet-adversarial") in str(e.value)
