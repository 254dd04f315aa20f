import hashlib
import json
import multiprocessing as mp
import os
import random
import stat
import threading

import pytest

from ramt.data.datum import Datum
from ramt.data.fewshot import (
    FewshotCacheError,
    fewshot_cache_path,
    generate_fewshot,
    load_fewshot_cache,
    load_or_sample_fewshot,
    save_fewshot_cache,
    subsample_classes,
)
from ramt.data.splits import file_fingerprint, read_split
from tests.fixtures.data_fixtures import data_cfg

HERE = os.path.dirname(__file__)
CALTECH_SPLIT = os.path.abspath(
    os.path.join(HERE, "..", "..", "ramt", "data", "assets", "split_zhou_Caltech101.json")
)

# docs/ENGINE.md, "Few-shot sampling": (K, seed) -> (train n, fp), (val n, fp)
ANCHORS = [
    (1, 1, 100, "33173bedf9adcd53", 100, "d8cdaf6e3fcfdfff"),
    (4, 1, 400, "f996bf609c4ea589", 400, "9562109330fe031a"),
    (16, 1, 1600, "e60a836bd33cbba3", 400, "53555d3fce94587d"),
    (16, 2, 1600, "62be9f804c23dea9", 400, "0ac3f0ace7d75ed1"),
    (16, 3, 1600, "8c465c68bff43c6e", 400, "bf481ac8e217d48d"),
]


def _fp(items):
    return hashlib.sha256("\n".join(d.impath for d in items).encode()).hexdigest()[:16]


@pytest.fixture(scope="module")
def caltech():
    return read_split(CALTECH_SPLIT, "")


@pytest.mark.parametrize("k, seed, n_tr, fp_tr, n_val, fp_val", ANCHORS)
def test_coop_anchor_fingerprints(caltech, k, seed, n_tr, fp_tr, n_val, fp_val, capsys):
    train, val, _ = caltech
    random.seed(seed)
    tr = generate_fewshot(train, k)
    va = generate_fewshot(val, min(k, 4))
    assert (len(tr), _fp(tr)) == (n_tr, fp_tr)
    assert (len(va), _fp(va)) == (n_val, fp_val)
    assert f"Creating a {k}-shot dataset" in capsys.readouterr().out
    if (k, seed) == (16, 1):
        assert [d.impath for d in tr[:2]] == ["Faces/image_0201.jpg", "Faces/image_0225.jpg"]
        assert va[0].impath == "Faces/image_0163.jpg"


def test_dataset_path_uses_cache_and_matches_anchor(caltech, tmp_path, capsys):
    train, val, _ = caltech
    cfg = data_cfg(
        tmp_path, "Caltech101", **{"DATASET.NUM_SHOTS": 16, "SEED": 1, "CACHE_DIR": str(tmp_path / "c")}
    )
    fp = file_fingerprint(CALTECH_SPLIT)
    random.seed(1)
    tr, va = load_or_sample_fewshot(cfg, "Caltech101", train, val, "", fp)
    assert "Saving preprocessed few-shot data to" in capsys.readouterr().out
    path = fewshot_cache_path(str(tmp_path / "c" / "fewshot"), "Caltech101", 16, 1, fp)
    assert os.path.basename(path) == f"shot_16-seed_1-{fp[:12]}-v1.json"
    assert os.path.isfile(path)
    random.seed(999)  # the cache does not depend on the random state
    tr2, va2 = load_or_sample_fewshot(cfg, "Caltech101", train, val, "", fp)
    assert f"Loading preprocessed few-shot data from {path}" in capsys.readouterr().out
    assert tr2 == tr and va2 == va and _fp(tr2) == "e60a836bd33cbba3" and _fp(va2) == "53555d3fce94587d"


def test_determinism_per_seed(caltech):
    train = caltech[0]
    random.seed(5)
    a = generate_fewshot(train, 2)
    random.seed(5)
    b = generate_fewshot(train, 2)
    random.seed(6)
    c = generate_fewshot(train, 2)
    assert a == b and a != c


def test_small_classes_and_repeat():
    items = [Datum("a0", 0), Datum("a1", 0), Datum("b0", 1)]
    assert generate_fewshot(items, 0) == items
    random.seed(0)
    out = generate_fewshot(items, 2)
    assert [d.label for d in out] == [0, 0, 1]
    out = generate_fewshot(items, 2, repeat=True)
    assert [d.label for d in out] == [0, 0, 1, 1]


def test_subsample_base_new(caltech, capsys):
    train, val, test = caltech
    base = subsample_classes(train, val, test, subsample="base")
    assert "SUBSAMPLE BASE CLASSES!" in capsys.readouterr().out
    new = subsample_classes(train, val, test, subsample="new")
    assert "SUBSAMPLE NEW CLASSES!" in capsys.readouterr().out
    for lists, n in ((base, 50), (new, 50)):
        for items in lists:
            assert {d.label for d in items} == set(range(n))
    assert base[0][0].classname == "face"
    first_new = next(d for d in new[0] if d.label == 0)
    assert first_new.classname == next(d.classname for d in train if d.label == 50)
    odd = [Datum(str(i), i) for i in range(5)]
    assert len({d.label for d in subsample_classes(odd, subsample="base")[0]}) == 3
    assert len({d.label for d in subsample_classes(odd, subsample="new")[0]}) == 2
    assert subsample_classes(odd, subsample="all")[0] == odd
    with pytest.raises(ValueError):
        subsample_classes(odd, subsample="half")


def _items(prefix, n_cls=3, n=5):
    return [
        Datum(os.path.join(prefix, f"c{c}", f"{i}.jpg"), c, classname=f"c{c}")
        for c in range(n_cls)
        for i in range(n)
    ]


def test_cache_round_trip_and_fingerprint_mismatch(tmp_path):
    prefix = str(tmp_path / "imgs")
    items = _items(prefix)
    path = str(tmp_path / "cache" / "X" / "f.json")
    save_fewshot_cache(
        path,
        dataset="X",
        num_shots=2,
        seed=1,
        fingerprint="ab" * 32,
        train=items[:4],
        val=items[4:6],
        image_prefix=prefix,
    )
    with open(path) as f:
        data = json.load(f)
    assert data["train"][0] == ["c0/0.jpg", 0, "c0"]
    assert {"dataset", "num_shots", "seed", "split_fingerprint", "sampler_version"} <= set(data)
    tr, va = load_fewshot_cache(path, fingerprint="ab" * 32, image_prefix=prefix)
    assert tr == items[:4] and va == items[4:6]
    # portable: another prefix gives the paths under it
    tr2, _ = load_fewshot_cache(path, fingerprint="ab" * 32, image_prefix="/elsewhere")
    assert tr2[0].impath == os.path.join("/elsewhere", "c0/0.jpg")
    with pytest.raises(FewshotCacheError, match="different split") as e:
        load_fewshot_cache(path, fingerprint="cd" * 32, image_prefix=prefix)
    assert path in str(e.value)


def test_mismatch_through_loader_with_same_fp12(tmp_path):
    cfg = data_cfg(tmp_path, **{"DATASET.NUM_SHOTS": 1, "SEED": 1, "CACHE_DIR": str(tmp_path / "c")})
    items = _items(str(tmp_path))
    load_or_sample_fewshot(cfg, "X", items, items, str(tmp_path), "a" * 64)
    with pytest.raises(FewshotCacheError):
        load_or_sample_fewshot(cfg, "X", items, items, str(tmp_path), "a" * 12 + "b" * 52)


def test_read_only_data_root_and_custom_cache_dir(tmp_path):
    root = tmp_path / "data"
    root.mkdir()
    (root / "x.txt").write_text("x")
    os.chmod(root, stat.S_IRUSR | stat.S_IXUSR)
    try:
        cfg = data_cfg(
            root, **{"DATASET.NUM_SHOTS": 2, "SEED": 1, "DATASET.FEWSHOT_CACHE_DIR": str(tmp_path / "fs")}
        )
        items = _items(str(root))
        tr, va = load_or_sample_fewshot(cfg, "X", items, items, str(root), "f" * 64)
        assert len(tr) == 6 and len(va) == 6
        assert sorted(os.listdir(root)) == ["x.txt"]
        assert os.listdir(tmp_path / "fs" / "X")
    finally:
        os.chmod(root, stat.S_IRWXU)


def _writer(args):
    path, prefix, n = args
    items = _items(prefix)
    for i in range(n):
        save_fewshot_cache(
            path,
            dataset="X",
            num_shots=2,
            seed=1,
            fingerprint="e" * 64,
            train=items,
            val=items[: i % 3],
            image_prefix=prefix,
        )
    return True


def test_concurrent_writers_keep_valid_json(tmp_path):
    path = str(tmp_path / "X" / "shot.json")
    prefix = str(tmp_path)
    threads = [threading.Thread(target=_writer, args=((path, prefix, 20),)) for _ in range(3)]
    ctx = mp.get_context("fork") if hasattr(os, "fork") else mp.get_context()
    procs = [ctx.Process(target=_writer, args=((path, prefix, 20),)) for _ in range(2)]
    for t in procs + threads:  # fork before starting threads
        t.start()
    stop = False
    reads = 0
    while not stop:
        if os.path.isfile(path):
            with open(path) as f:
                json.load(f)  # never a partial file
            reads += 1
        stop = all(not t.is_alive() for t in threads) and all(not p.is_alive() for p in procs)
    for t in threads:
        t.join()
    for p in procs:
        p.join()
        assert p.exitcode == 0
    tr, _ = load_fewshot_cache(path, fingerprint="e" * 64, image_prefix=prefix)
    assert len(tr) == 15
    assert [f for f in os.listdir(tmp_path / "X") if f != "shot.json"] == []  # no temp files left
