"""verify_dataset and `prepare --verify` on small fabricated trees (good and broken)."""

from __future__ import annotations

import dataclasses
import json

import pytest
from PIL import Image

from ramt import catalogue as sources
from ramt.catalogue import Expected
from ramt.data import prepare
from ramt.data.verify import verify_dataset

TINY = Expected(classes=2, train=4, val=2, test=2)


def _jpeg(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), (120, 30, 200)).save(path, "JPEG")


def make_json_tree(root, name="eurosat"):
    """A tiny tree in the layout of a JSON-split dataset (2 classes, 4/2/2 images)."""
    src = sources.get_source(name)
    folder = root / src.folder
    prefix = folder / src.image_prefix
    split = {"train": [], "val": [], "test": []}
    counts = {"train": 2, "val": 1, "test": 1}
    for label, cname in enumerate(["Forest", "River"]):
        i = 0
        for key, n in counts.items():
            for _ in range(n):
                rel = f"{cname}/{cname}_{i}.jpg"
                _jpeg(prefix / rel)
                split[key].append([rel, label, cname])
                i += 1
    (folder / src.split_file).write_text(json.dumps(split))
    return folder, prefix


def test_good_json_tree_passes(tmp_path):
    make_json_tree(tmp_path)
    rep = verify_dataset("eurosat", tmp_path, expected=TINY)
    assert rep.ok, rep.problems
    assert rep.counts == {"train": 4, "val": 2, "test": 2}
    assert "[OK]" in rep.format()


def test_real_counts_are_the_default(tmp_path):
    make_json_tree(tmp_path)
    rep = verify_dataset("eurosat", tmp_path)
    assert "train has 4 images, expected 13,500" in rep.problems
    assert "2 classes, expected 10" in rep.problems


def test_missing_and_corrupt_images_reported(tmp_path):
    _, prefix = make_json_tree(tmp_path)
    (prefix / "Forest/Forest_0.jpg").unlink()
    (prefix / "River/River_3.jpg").write_bytes(b"not a jpeg at all")
    rep = verify_dataset("eurosat", tmp_path, expected=TINY)
    assert not rep.ok
    text = "\n".join(rep.problems)
    assert "missing image" in text and "Forest_0.jpg" in text
    assert "unreadable image" in text and "River_3.jpg" in text
    assert "[FAIL]" in rep.format()


def test_sample_mode_still_checks_presence(tmp_path):
    _, prefix = make_json_tree(tmp_path)
    (prefix / "Forest/Forest_1.jpg").unlink()
    rep = verify_dataset("eurosat", tmp_path, full=False, sample=1, expected=TINY)
    assert any("Forest_1.jpg" in p for p in rep.problems)


def test_wrong_counts_missing_split_bad_json_missing_folder(tmp_path):
    folder, _ = make_json_tree(tmp_path)
    rep = verify_dataset("eurosat", tmp_path, expected=Expected(classes=3, train=5, val=2, test=2))
    assert "2 classes, expected 3" in rep.problems and "train has 4 images, expected 5" in rep.problems

    split = folder / "split_zhou_EuroSAT.json"
    split.write_text("{not json")
    rep = verify_dataset("eurosat", tmp_path, expected=TINY)
    assert any(p.startswith("unreadable split file") for p in rep.problems)

    split.unlink()
    rep = verify_dataset("eurosat", tmp_path, expected=TINY)
    assert rep.problems == [f"missing split file {split}"]

    rep = verify_dataset("dtd", tmp_path)
    assert rep.missing_folder and rep.problems == [f"missing folder {tmp_path / 'dtd'}"]


def test_fgvc_lists(tmp_path):
    folder = tmp_path / "fgvc_aircraft"
    (folder / "images").mkdir(parents=True)
    (folder / "variants.txt").write_text("707-320\nA340-500\n")
    for key, ids in {"train": ["1", "2"], "val": ["3"], "test": ["4"]}.items():
        lines = [f"{i} {'707-320' if int(i) % 2 else 'A340-500'}" for i in ids]
        (folder / f"images_variant_{key}.txt").write_text("\n".join(lines) + "\n")
        for i in ids:
            _jpeg(folder / "images" / f"{i}.jpg")
    exp = Expected(classes=2, train=2, val=1, test=1)
    assert verify_dataset("fgvc_aircraft", tmp_path, expected=exp).ok
    (folder / "images/3.jpg").unlink()
    (folder / "images_variant_test.txt").write_text("4 B747\n")
    rep = verify_dataset("fgvc_aircraft", tmp_path, expected=exp)
    assert any("3.jpg" in p for p in rep.problems) and any(
        "unknown variant 'B747'" in p for p in rep.problems
    )


def _classnames(folder, wnids):
    lines = [f"n{i:08d} class {i}" for i in range(1000)]
    for j, w in enumerate(wnids):
        lines[j] = f"{w} thing {j}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "classnames.txt").write_text("\n".join(sorted(lines)) + "\n")


def test_folder_scan_test_sets(tmp_path):
    folder = tmp_path / "imagenet-adversarial"
    wnids = ["n00000001", "n00000002", "n00000003"]
    _classnames(folder, [])
    for w in wnids:
        for k in range(2):
            _jpeg(folder / "imagenet-a" / w / f"{k}.jpg")
    (folder / "imagenet-a" / "README.txt").write_text("ignored")
    exp = Expected(classes=3, test=6)
    rep = verify_dataset("imagenet_a", tmp_path, expected=exp)
    assert rep.ok, rep.problems
    assert rep.counts == {"test": 6}

    _jpeg(folder / "imagenet-a" / "n99999999" / "x.jpg")  # a folder not in classnames.txt
    rep = verify_dataset("imagenet_a", tmp_path, expected=exp)
    assert any("not in classnames.txt" in p for p in rep.problems)
    assert "4 classes, expected 3" in rep.problems

    v2 = tmp_path / "imagenetv2"
    _classnames(v2, [])
    for c in ("0", "1"):
        _jpeg(v2 / "imagenetv2-matched-frequency-format-val" / c / "a.jpeg")
    assert verify_dataset("imagenetv2", tmp_path, expected=Expected(classes=2, test=2)).ok
    (v2 / "classnames.txt").unlink()
    rep = verify_dataset("imagenetv2", tmp_path, expected=Expected(classes=2, test=2))
    assert any("classnames.txt" in p for p in rep.problems)


def test_imagenet_layout(tmp_path):
    folder = tmp_path / "imagenet"
    wnids = ["n00000001", "n00000002"]
    _classnames(folder, wnids)
    for w in wnids:
        _jpeg(folder / "images/train" / w / "t0.JPEG")
        _jpeg(folder / "images/train" / w / "t1.JPEG")
        _jpeg(folder / "images/val" / w / "v0.JPEG")
    exp = Expected(classes=2, train=4, test=2)
    assert verify_dataset("imagenet", tmp_path, expected=exp).ok
    (folder / "images/val/n00000002/v0.JPEG").write_bytes(b"\xff\xd8garbage")
    rep = verify_dataset("imagenet", tmp_path, expected=exp)
    assert any("unreadable image" in p and "v0.JPEG" in p for p in rep.problems)


def test_generated_digits_needs_nothing(tmp_path):
    assert verify_dataset("digits", tmp_path).ok


@pytest.fixture
def tiny_eurosat(monkeypatch):
    entry = dataclasses.replace(sources.CATALOGUE["eurosat"], expected=TINY)
    monkeypatch.setitem(sources.CATALOGUE, "eurosat", entry)


def test_cli_verify_all_on_an_empty_root_fails(tmp_path):
    """Issue 12, item 9: `prepare all --verify` on an empty data root must not exit 0."""
    lines: list[str] = []
    assert prepare.main(["all", "--root", str(tmp_path), "--verify"], log=lines.append) == 1
    assert any(ln.startswith("missing: ") and "dtd" in ln and "imagenet" in ln for ln in lines)


def test_cli_verify_reports_per_dataset(tmp_path, tiny_eurosat):
    _, prefix = make_json_tree(tmp_path)
    lines: list[str] = []
    assert prepare.main(["eurosat", "--root", str(tmp_path), "--verify"], log=lines.append) == 0
    assert any(ln.startswith("[OK]   eurosat") for ln in lines)

    # 'all' requests every dataset: absent ones are named and make the exit status non-zero
    lines.clear()
    assert prepare.main(["all", "--root", str(tmp_path), "--verify"], log=lines.append) == 1
    assert any("dtd: not present" in ln for ln in lines)
    assert any(ln.startswith("missing: ") and "dtd" in ln and "eurosat" not in ln for ln in lines)

    (prefix / "River/River_2.jpg").unlink()
    lines.clear()
    assert prepare.main(["eurosat", "dtd", "--root", str(tmp_path), "--verify"], log=lines.append) == 1
    text = "\n".join(lines)
    assert "[FAIL] eurosat" in text and "River_2.jpg" in text
    assert "[FAIL] dtd" in text and "missing folder" in text
