import json
import os

import pytest

from ramt.data.datum import Datum
from ramt.data.splits import (
    SplitFileNotFoundError,
    SplitFormatError,
    file_fingerprint,
    read_split,
    write_split,
)

HERE = os.path.dirname(__file__)
CALTECH_SPLIT = os.path.join(HERE, "..", "..", "ramt", "data", "assets", "split_zhou_Caltech101.json")
CALTECH_SHA = "43ab95e88d2f6a32a11c4f8dc9f822c534e822f3dbbde2e248af5432d771a6fc"


def test_shipped_caltech_split_file():
    assert file_fingerprint(CALTECH_SPLIT) == CALTECH_SHA
    train, val, test = read_split(CALTECH_SPLIT, "/data/caltech-101/101_ObjectCategories")
    assert (len(train), len(val), len(test)) == (4128, 1649, 2465)
    for items in (train, val, test):
        assert {d.label for d in items} == set(range(100))
    names = {d.label: d.classname for d in train}
    assert [names[i] for i in range(5)] == ["face", "leopard", "motorbike", "accordion", "airplane"]
    assert [names[97], names[98], names[99]] == ["windsor_chair", "wrench", "yin_yang"]
    assert "car_side" in names.values() and "water_lilly" in names.values()
    assert train[0].impath == "/data/caltech-101/101_ObjectCategories/Faces/image_0274.jpg"


def test_missing_split_names_path_and_drive_id(tmp_path):
    path = tmp_path / "caltech-101" / "split_zhou_Caltech101.json"
    with pytest.raises(FileNotFoundError) as e:
        read_split(str(path), str(tmp_path))
    msg = str(e.value)
    assert isinstance(e.value, SplitFileNotFoundError)
    assert str(path) in msg and "1hyarUivQE36mY6jSomru6Fjd-JzwcCzN" in msg and "docs/DATASETS.md" in msg


@pytest.mark.parametrize(
    "content, needle",
    [
        ("{not json", "not valid JSON"),
        (json.dumps({"train": [], "val": []}), "'test'"),
        (json.dumps({"train": [["a.jpg", "0", "x"]], "val": [], "test": []}), "entry 0 of 'train'"),
        (json.dumps({"train": {}, "val": [], "test": []}), "'train'"),
    ],
)
def test_malformed_split(tmp_path, content, needle):
    path = tmp_path / "split_zhou_X.json"
    path.write_text(content)
    with pytest.raises(SplitFormatError, match=needle) as e:
        read_split(str(path), "")
    assert str(path) in str(e.value)


def test_write_read_round_trip_keeps_order(tmp_path):
    prefix = str(tmp_path / "imgs")
    items = [Datum(os.path.join(prefix, f"c{i % 2}/{i}.jpg"), i % 2, classname=f"c{i % 2}") for i in range(5)]
    path = str(tmp_path / "split.json")
    write_split(items[:3], items[3:4], items[4:], path, prefix)
    with open(path) as f:
        assert json.load(f)["train"][0] == ["c0/0.jpg", 0, "c0"]
    train, val, test = read_split(path, prefix)
    assert train + val + test == items


def test_multi_file_fingerprint_depends_on_each(tmp_path):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("1")
    b.write_text("2")
    fp = file_fingerprint(str(a), str(b))
    b.write_text("3")
    assert file_fingerprint(str(a), str(b)) != fp
    assert len(fp) == 64
