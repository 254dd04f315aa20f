"""Decoded-image caches: bitwise the decode path's tensors, same training batches, content keys, atomic builds."""

import os

import numpy as np
import pytest
import torch
from PIL import Image

from ramt.data import image_cache
from ramt.data.datum import Datum
from ramt.data.image_cache import CachedEvalLoader, clear_open_caches
from ramt.data.manager import BadImageError, build_data_loader
from ramt.data.transforms import build_transform
from tests.fixtures.data_fixtures import data_cfg

SIZES = [(53, 37), (37, 61), (80, 80), (45, 120), (64, 48), (33, 90), (71, 52)]


def _write_images(folder, n=7, seed=0):
    rng = np.random.default_rng(seed)
    items = []
    for i in range(n):
        w, h = SIZES[i % len(SIZES)]
        arr = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
        path = os.path.join(folder, f"img_{i}.jpg")
        Image.fromarray(arr).save(path, quality=90)
        items.append(Datum(path, label=i % 3, classname=f"c{i % 3}"))
    return items


@pytest.fixture
def items(tmp_path):
    clear_open_caches()
    folder = tmp_path / "images"
    folder.mkdir()
    yield _write_images(str(folder))
    clear_open_caches()


def _cfg(tmp_path, cache: bool, **kw):
    opts = {
        "CACHE_DIR": str(tmp_path / "cache"),
        "INPUT.SIZE": (32, 32),
        "DATALOADER.IMAGE_CACHE": cache,
        "DATASET.NUM_SHOTS": 2,
    }
    opts.update(kw)
    return data_cfg(**opts)


def _eval_batches(cfg, items, bs=3):
    loader = build_data_loader(cfg, items, bs, build_transform(cfg, is_train=False), is_train=False)
    return loader, list(loader)


@pytest.mark.parametrize("interp", ["bicubic", "bilinear"])
def test_cached_eval_tensors_are_bitwise_the_pil_path(tmp_path, items, interp):
    off_loader, plain = _eval_batches(_cfg(tmp_path, False, **{"INPUT.INTERPOLATION": interp}), items)
    on_loader, cached = _eval_batches(_cfg(tmp_path, True, **{"INPUT.INTERPOLATION": interp}), items)
    assert not isinstance(off_loader, CachedEvalLoader) and isinstance(on_loader, CachedEvalLoader)
    assert len(on_loader) == len(off_loader) == len(plain) == 3
    for a, b in zip(plain, cached):
        assert a["img"].dtype == b["img"].dtype and a["img"].shape == b["img"].shape
        assert torch.equal(a["img"], b["img"])  # bitwise
        assert torch.equal(a["label"], b["label"]) and torch.equal(a["index"], b["index"])
        assert a["impath"] == b["impath"] and torch.equal(a["domain"], b["domain"])
    # A second loader reads the stored file (a fresh process would): still bitwise equal.
    clear_open_caches()
    _, again = _eval_batches(_cfg(tmp_path, True, **{"INPUT.INTERPOLATION": interp}), items)
    assert all(torch.equal(a["img"], b["img"]) for a, b in zip(plain, again))


def test_eval_cache_is_built_on_the_first_pass_only(tmp_path, items):
    cfg = _cfg(tmp_path, True)
    loader = build_data_loader(cfg, items, 3, build_transform(cfg, is_train=False), is_train=False)
    assert len(loader) == 3
    assert not (tmp_path / "cache" / "images").exists()  # e.g. features served by the feature cache
    next(iter(loader))
    assert len(os.listdir(tmp_path / "cache" / "images")) == 1


def test_squash_resize_is_cached_bitwise_too(tmp_path, items):
    kw = {"INPUT.RESIZE_MODE": "squash"}
    _, plain = _eval_batches(_cfg(tmp_path, False, **kw), items)
    loader, cached = _eval_batches(_cfg(tmp_path, True, **kw), items)
    assert isinstance(loader, CachedEvalLoader)
    assert all(torch.equal(a["img"], b["img"]) for a, b in zip(plain, cached))


def test_cache_key_separates_size_and_interpolation(tmp_path, items):
    _eval_batches(_cfg(tmp_path, True), items)
    _eval_batches(_cfg(tmp_path, True, **{"INPUT.SIZE": (24, 24)}), items)
    _eval_batches(_cfg(tmp_path, True, **{"INPUT.INTERPOLATION": "bilinear"}), items)
    root = tmp_path / "cache" / "images"
    assert len([d for d in os.listdir(root) if ".partial" not in d]) == 3


def test_cached_eval_consumes_the_global_rng_like_a_dataloader(tmp_path, items):
    states = []
    for cache in (False, True):
        torch.manual_seed(5)
        _eval_batches(_cfg(tmp_path, cache), items)
        states.append(torch.rand(4))
    assert torch.equal(states[0], states[1])


def _no_open(path, *args, **kwargs):
    raise AssertionError(f"image opened although the cache is warm: {path}")


def _train_batches(cfg, items, epochs=2):
    torch.manual_seed(11)
    loader = build_data_loader(cfg, items, 3, build_transform(cfg, is_train=True), is_train=True)
    return [b for _ in range(epochs) for b in loader]


@pytest.mark.parametrize("workers", [0, 2])
def test_cached_training_batches_are_identical_for_the_same_seed(tmp_path, items, workers):
    kw = {"DATALOADER.NUM_WORKERS": workers}
    plain = _train_batches(_cfg(tmp_path, False, **kw), items)
    image_cache.originals_cache(str(tmp_path / "cache" / "images"), [d.impath for d in items], False, 0)
    # Warm cache: training must not open a single file (the patch reaches forked workers too).
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Image, "open", _no_open)
        cached = _train_batches(_cfg(tmp_path, True, **kw), items)
    assert len(plain) == len(cached) == 4
    for a, b in zip(plain, cached):
        assert torch.equal(a["index"], b["index"]) and torch.equal(a["label"], b["label"])
        assert torch.equal(a["img"], b["img"])
    # a different seed gives other crops: the comparison above is not vacuous
    torch.manual_seed(12)
    other = build_data_loader(
        _cfg(tmp_path, True, **kw), items, 3, build_transform(_cfg(tmp_path, True), True), is_train=True
    )
    assert not torch.equal(next(iter(other))["img"], cached[0]["img"])


def test_originals_are_the_decoded_images(tmp_path, items):
    cache = image_cache.originals_cache(str(tmp_path / "c"), [d.impath for d in items], False, 0)
    for j, d in enumerate(items):
        with Image.open(d.impath) as img:
            ref = np.asarray(img.convert("RGB"))
        assert np.array_equal(cache.image(j), ref)


def test_no_cache_for_full_training_sets(tmp_path, items):
    cfg = _cfg(tmp_path, True, **{"DATASET.NUM_SHOTS": -1})
    build_data_loader(cfg, items, 3, build_transform(cfg, is_train=True), is_train=True)
    assert not (tmp_path / "cache" / "images").exists()


def test_changed_image_invalidates_the_cache(tmp_path, items):
    cfg = _cfg(tmp_path, True)
    _, first = _eval_batches(cfg, items)
    # Rewrite one image with other pixels: its size/mtime change, so the key changes.
    target = items[4].impath
    arr = np.full((50, 70, 3), 200, dtype=np.uint8)
    Image.fromarray(arr).save(target, quality=90)
    st = os.stat(target)
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    clear_open_caches()
    _, second = _eval_batches(cfg, items)
    _, plain = _eval_batches(_cfg(tmp_path, False), items)
    assert all(torch.equal(a["img"], b["img"]) for a, b in zip(plain, second))
    assert not torch.equal(first[1]["img"], second[1]["img"])  # item 4 is in the second batch
    assert torch.equal(first[0]["img"], second[0]["img"])
    root = tmp_path / "cache" / "images"
    assert len([d for d in os.listdir(root) if ".partial" not in d]) == 2
    # Training originals follow the image too.
    torch.manual_seed(0)
    orig = image_cache.originals_cache(str(root), [d.impath for d in items], False, 0)
    assert np.array_equal(orig.image(4), np.asarray(Image.open(target).convert("RGB")))


def test_interrupted_build_never_looks_complete(tmp_path, items):
    with open(items[5].impath, "wb") as f:
        f.write(b"not a jpeg")
    cfg = _cfg(tmp_path, True)
    with pytest.raises(BadImageError, match="img_5"):
        _eval_batches(cfg, items)
    root = tmp_path / "cache" / "images"
    assert os.listdir(root) == []  # neither a final folder nor a partial one is left behind
    # A leftover partial folder of a killed build is never opened as a cache.
    key_dirs_before = set(os.listdir(root))
    os.makedirs(root / "deadbeef.partial-1-abc")
    cfg2 = _cfg(tmp_path, True, **{"DATASET.SKIP_BAD_IMAGES": True})
    with pytest.warns(UserWarning, match="img_5"):
        _, batches = _eval_batches(cfg2, items)
    # The bad item is replaced by the next readable one, as on the decode path.
    assert batches[1]["impath"][2] == items[6].impath
    assert len(set(os.listdir(root)) - key_dirs_before) == 2


def test_unreadable_cache_is_moved_aside_and_rebuilt(tmp_path, items):
    cfg = _cfg(tmp_path, True)
    _, first = _eval_batches(cfg, items)
    root = tmp_path / "cache" / "images"
    (key,) = os.listdir(root)
    os.remove(root / key / "meta.json")
    clear_open_caches()
    with pytest.warns(UserWarning, match="moved to .*broken"):
        _, again = _eval_batches(cfg, items)
    assert all(torch.equal(a["img"], b["img"]) for a, b in zip(first, again))
    # The broken copy is removed once the rebuild succeeded (it would fill the disk otherwise).
    assert os.listdir(root) == [key]


def test_cache_build_leaves_the_global_rng_alone(tmp_path, items):
    torch.manual_seed(3)
    image_cache.originals_cache(str(tmp_path / "c"), [d.impath for d in items], False, 2)
    a = torch.rand(3)
    torch.manual_seed(3)
    b = torch.rand(3)
    assert torch.equal(a, b)


def _pixel_file(root):
    (key,) = [d for d in os.listdir(root) if "." not in d]
    return root / key / "pixels.npy"


def test_inverted_cached_pixels_are_noticed_and_rebuilt(tmp_path, items):
    cfg = _cfg(tmp_path, True)
    _, first = _eval_batches(cfg, items)
    path = _pixel_file(tmp_path / "cache" / "images")
    arr = np.load(path, mmap_mode="r+")  # invert in place: same size, header intact
    arr[:] = 255 - arr
    arr.flush()
    del arr
    clear_open_caches()
    with pytest.warns(UserWarning, match="checksum"):
        _, again = _eval_batches(cfg, items)
    assert all(torch.equal(a["img"], b["img"]) for a, b in zip(first, again))
    assert not [d for d in os.listdir(tmp_path / "cache" / "images") if "broken" in d]


def test_inverted_originals_are_noticed_and_rebuilt(tmp_path, items):
    root = str(tmp_path / "c")
    paths = [d.impath for d in items]
    ref = image_cache.originals_cache(root, paths, False, 0).image(3).copy()
    arr = np.load(_pixel_file(tmp_path / "c"), mmap_mode="r+")
    arr[:] = 255 - arr
    arr.flush()
    del arr
    clear_open_caches()
    with pytest.warns(UserWarning, match="checksum"):
        cache = image_cache.originals_cache(root, paths, False, 0)
    assert np.array_equal(cache.image(3), ref)


def test_same_size_rewrite_with_restored_mtime_is_seen(tmp_path, items):
    cfg = _cfg(tmp_path, True)
    _eval_batches(cfg, items)
    target = items[4].impath
    st = os.stat(target)
    data = bytearray(open(target, "rb").read())
    with Image.open(target) as img:  # same size and format, other pixels
        other = Image.fromarray(255 - np.asarray(img))
    buf = __import__("io").BytesIO()
    other.save(buf, format="JPEG", quality=90)
    new = buf.getvalue()[: len(data)].ljust(len(data), b"\0")
    with open(target, "wb") as f:
        f.write(new)
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert os.stat(target).st_size == st.st_size and os.stat(target).st_mtime_ns == st.st_mtime_ns
    clear_open_caches()
    _, cached = _eval_batches(cfg, items)
    _, plain = _eval_batches(_cfg(tmp_path, False), items)
    assert all(torch.equal(a["img"], b["img"]) for a, b in zip(plain, cached))
