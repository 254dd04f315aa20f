import json
import os
import random
from unittest import mock

import pytest
from PIL import Image

from ramt.data import digits as digits_mod
from ramt.data.digits import DIGITS_CLASSNAMES, ensure_digits


def test_generated_layout(digits_root):
    d = os.path.join(digits_root, "digits")
    with open(os.path.join(d, "split_zhou_Digits.json")) as f:
        split = json.load(f)
    sizes = {k: len(v) for k, v in split.items()}
    assert sum(sizes.values()) == 1797
    assert sizes == {"train": 898, "val": 359, "test": 540}
    for key in split:
        assert {lab for _, lab, _ in split[key]} == set(range(10))
        assert all(cname == DIGITS_CLASSNAMES[lab] for _, lab, cname in split[key])
    rel = split["train"][0][0]
    img = Image.open(os.path.join(d, "images", rel))
    assert img.mode == "RGB" and img.size == (32, 32)
    assert sorted(os.listdir(os.path.join(d, "images"))) == sorted(DIGITS_CLASSNAMES)
    assert not [n for n in os.listdir(digits_root) if n.startswith(".digits")]


def test_idempotent_and_independent_of_global_random(digits_root):
    d = os.path.join(digits_root, "digits")
    path = os.path.join(d, "split_zhou_Digits.json")
    mtime = os.stat(path).st_mtime_ns
    random.seed(12345)
    state = random.getstate()
    assert ensure_digits(digits_root, verbose=False) == d
    assert os.stat(path).st_mtime_ns == mtime
    assert random.getstate() == state


def test_split_is_deterministic():
    labels = [i % 10 for i in range(100)]
    assert digits_mod._make_split(labels) == digits_mod._make_split(labels)


def test_interrupted_generation_leaves_nothing(tmp_path):
    def boom(target):
        os.makedirs(os.path.join(target, "images", "zero"))
        raise KeyboardInterrupt

    with mock.patch.object(digits_mod, "_generate", boom):
        with pytest.raises(KeyboardInterrupt):
            ensure_digits(str(tmp_path), verbose=False)
    assert os.listdir(tmp_path) == []


def test_lost_race_uses_the_winner(tmp_path, digits_root):
    import shutil

    def racing(target):
        # another process finishes first, then this one completes its own copy
        shutil.copytree(os.path.join(digits_root, "digits"), os.path.join(str(tmp_path), "digits"))
        shutil.copytree(os.path.join(digits_root, "digits"), target, dirs_exist_ok=True)

    with mock.patch.object(digits_mod, "_generate", racing):
        d = ensure_digits(str(tmp_path), verbose=False)
    assert os.path.isfile(os.path.join(d, "split_zhou_Digits.json"))
    assert os.listdir(tmp_path) == ["digits"]


def test_incomplete_folder_is_reported(tmp_path):
    (tmp_path / "digits").mkdir()
    with pytest.raises(FileNotFoundError, match="not a complete Digits dataset"):
        ensure_digits(str(tmp_path), verbose=False)
