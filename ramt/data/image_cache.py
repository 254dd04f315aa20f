"""Decoded-image caches: JPEGs are decoded once, not once per epoch, seed and method.

Two caches live under ``<CACHE_DIR>/images/`` (``DATALOADER.IMAGE_CACHE``, on by default):

* **evaluation**: the deterministic head of the test transform (resize the shorter edge, centre
  crop) applied once with PIL and stored as a ``(N, H, W, 3)`` uint8 array. Evaluation reads
  it and runs the rest of the transform (``ToTensor``, ``Normalize``) on whole batches; the
  tensors are bitwise those of the PIL path, because the cached bytes *are* the PIL output and
  the remaining steps are element-wise.
* **training originals** (few-shot runs): the decoded RGB originals of the training images,
  concatenated in one flat uint8 array with their shapes. The training loader is the usual
  ``DataLoader`` (same sampler, workers, seeds); only the JPEG decode is replaced by
  ``Image.fromarray`` of the cached pixels, so the random crops and flips, and therefore the
  batches, are identical to the decode path for the same seed.

Each cache is keyed on its content like the feature cache: the image paths, each image's size,
mtime and ctime, the transform head (its ``repr``: size, interpolation, antialias) and the
PIL/torchvision versions. A changed image gives a new key, so a stale cache is never read. The
pixels carry a blake2b checksum per chunk, checked the first time a process reads the chunk; a
mismatch moves the cache aside (with a warning) and rebuilds it. A cache is built in a
``*.partial-*`` folder with plain file I/O after a free-space check, and renamed into place when
complete, so an interrupted build never looks finished and a full disk is one error naming
CACHE_DIR. Costs per dataset are in ``docs/SPEED.md``.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import uuid
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np
import PIL
import torch
import torchvision
import torchvision.transforms as T
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from ramt.config import resolve_cache_dir
from ramt.utils.runlock import pid_alive

from .images import BadImageError, file_stamp, header_size, read_image
from .workers import worker_init

CACHE_FORMAT = 2  # 2: pixel checksums, ctime in the key
# Training originals up to this size are copied into memory; larger ones stay memory-mapped.
IN_MEMORY_MAX_BYTES = 2 << 30
# Checksum granularity: a chunk is hashed (blake2b) the first time a process reads from it.
CHUNK_BYTES = 16 << 20
_PIXELS = "pixels.npy"
_INDEX = "index.npy"
_META = "meta.json"

# Caches opened by this process (worker mode reuses them across jobs).
_OPEN: dict[str, DecodedImages] = {}


# ----------------------------------------------------------------------------- keys
def cache_key(kind: str, paths: Sequence[str], transform: str) -> str:
    """A content hash: kind, transform, library versions, and every image's path, size, mtime and ctime."""
    h = hashlib.sha256()
    head = {
        "format": CACHE_FORMAT,
        "kind": kind,
        "transform": transform,
        "pil": PIL.__version__,
        "torchvision": torchvision.__version__,
    }
    h.update(json.dumps(head, sort_keys=True).encode())
    for p in paths:
        h.update(f"{os.path.abspath(p)}\t{file_stamp(p)}\n".encode())
    return h.hexdigest()[:24]


# ----------------------------------------------------------------------------- storage
class CacheCorruptError(ValueError):
    """Cached pixels whose checksum differs from the one stored when the cache was built."""


class CacheSpaceError(OSError):
    """Not enough free space in CACHE_DIR to build a cache (one ERROR line names it)."""


def space_message(root: str, needed: int, free: Optional[int] = None) -> str:
    """The one-paragraph error for a cache that does not fit in its CACHE_DIR."""
    have = "" if free is None else f", {free / 2**20:,.1f} MiB free"
    return (
        f"Not enough space in CACHE_DIR {os.path.dirname(os.path.abspath(root))} for the decoded-image "
        f"cache: it needs {needed / 2**20:,.1f} MiB{have}. Fix: free space there, point CACHE_DIR (or "
        "RAMT_CACHE_DIR) at a larger disk, or set DATALOADER.IMAGE_CACHE False to decode images every time."
    )


def chunk_checksums(flat: np.ndarray, chunk_bytes: int) -> list[str]:
    """blake2b of each ``chunk_bytes`` slice of a flat uint8 array."""
    return [_digest(flat[a : a + chunk_bytes]) for a in range(0, max(flat.shape[0], 1), chunk_bytes)]


def _digest(block: np.ndarray) -> str:
    return hashlib.blake2b(memoryview(np.ascontiguousarray(block)), digest_size=16).hexdigest()


@dataclass
class DecodedImages:
    """An opened cache: ``pixels`` (memmap or array), ``valid`` flags, and for originals the
    ``offsets`` / ``shapes`` of each image in the flat pixel array.

    ``checksums`` hold the blake2b of each ``chunk_bytes`` slice of the pixel data; a chunk is
    checked the first time this process reads it (:meth:`verify_rows`, :meth:`verify_all`).
    """

    path: str
    pixels: np.ndarray
    valid: np.ndarray
    offsets: Optional[np.ndarray] = None
    shapes: Optional[np.ndarray] = None
    checksums: Sequence[str] = ()
    chunk_bytes: int = CHUNK_BYTES
    verified: set = field(default_factory=set)

    def __len__(self) -> int:
        return int(self.valid.shape[0])

    def image(self, j: int) -> np.ndarray:
        """Image ``j`` as an (H, W, 3) uint8 array (a view into the cache)."""
        if self.offsets is None:
            return self.pixels[j]
        h, w = (int(x) for x in self.shapes[j])
        start = int(self.offsets[j])
        return self.pixels[start : start + h * w * 3].reshape(h, w, 3)

    @property
    def nbytes(self) -> int:
        return int(self.pixels.nbytes)

    def _verify_bytes(self, start: int, stop: int) -> None:
        flat = self.pixels.reshape(-1)
        for c in range(start // self.chunk_bytes, max(stop - 1, start) // self.chunk_bytes + 1):
            if c in self.verified:
                continue
            a = c * self.chunk_bytes
            if c >= len(self.checksums) or _digest(flat[a : a + self.chunk_bytes]) != self.checksums[c]:
                raise CacheCorruptError(
                    f"the pixel data of {self.path} do not match their checksum (chunk {c})"
                )
            self.verified.add(c)

    def verify_rows(self, rows: Sequence[int]) -> None:
        """Check the chunks holding rows ``rows`` of an evaluation cache (once per process)."""
        row = int(np.prod(self.pixels.shape[1:]))
        for j in rows:
            self._verify_bytes(int(j) * row, (int(j) + 1) * row)

    def verify_all(self) -> None:
        """Check every chunk (once per process)."""
        self._verify_bytes(0, max(self.nbytes, 1))


def _read_meta(folder: str) -> Optional[dict]:
    try:
        with open(os.path.join(folder, _META)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _open(folder: str, in_memory: bool) -> DecodedImages:
    meta = _read_meta(folder)
    if meta is None or meta.get("format") != CACHE_FORMAT or "checksums" not in meta:
        raise ValueError(f"not a complete image cache (format {CACHE_FORMAT})")
    pixels = np.load(os.path.join(folder, _PIXELS), mmap_mode="r")
    index = np.load(os.path.join(folder, _INDEX))
    if index.shape[0] != meta["count"]:
        raise ValueError(f"index holds {index.shape[0]} images, meta.json {meta['count']}")
    if in_memory and pixels.nbytes <= IN_MEMORY_MAX_BYTES:
        pixels = np.array(pixels)
    valid = index[:, 0].astype(bool)
    sums = {"checksums": list(meta["checksums"]), "chunk_bytes": int(meta["chunk_bytes"])}
    if meta["kind"] == "originals":
        cache = DecodedImages(folder, pixels, valid, offsets=index[:, 1], shapes=index[:, 2:4], **sums)
        cache.verify_all()  # the training loader's workers read it: check it here, once
        return cache
    return DecodedImages(folder, pixels, valid, **sums)


def _decode_all(paths: Sequence[str], load: Callable[[str], np.ndarray], num_workers: int, on_image) -> None:
    """Decode ``paths`` (in parallel when ``num_workers`` > 0) and call ``on_image(j, array or None)``.

    The loader has its own generator, so building a cache never consumes the global RNG: a run
    draws the same random numbers whether the cache existed or not.
    """

    class _Decode(Dataset):
        def __len__(self):
            return len(paths)

        def __getitem__(self, j):
            try:
                return j, load(paths[j]), None
            except BadImageError as e:
                return j, None, str(e)

    loader = DataLoader(
        _Decode(),
        batch_size=16,
        num_workers=num_workers,
        collate_fn=lambda batch: batch,
        generator=torch.Generator().manual_seed(0),
        worker_init_fn=worker_init(),
    )
    for batch in loader:
        for j, arr, err in batch:
            on_image(j, arr, err)


def remove_stale_folders(root: str, key: str, kind: str) -> None:
    """Remove ``<key>.partial-<pid>-*`` folders of dead builds (``kind="partial"``) or every
    ``<key>.broken-*`` folder (``kind="broken"``, after a successful rebuild)."""
    try:
        names = os.listdir(root)
    except OSError:
        return
    for name in names:
        if not name.startswith(f"{key}.{kind}-"):
            continue
        if kind == "partial":
            pid = name.split("-")[1]
            if not pid.isdigit() or pid_alive(int(pid)):
                continue
        shutil.rmtree(os.path.join(root, name), ignore_errors=True)


def check_free_space(root: str, needed: int) -> None:
    """Raise :class:`CacheSpaceError` when ``root``'s file system has less than ``needed`` bytes free."""
    st = os.statvfs(root)
    free = st.f_bavail * st.f_frsize
    if free < needed:
        raise CacheSpaceError(space_message(root, needed, free))


def _write_pixels(
    path: str, shape: tuple[int, ...], fill: Callable[[Callable[[int, np.ndarray], None]], None]
) -> None:
    """Write a ``.npy`` uint8 array of ``shape`` with plain file I/O (no memory map, so a full disk
    is an ``OSError``, not ``SIGBUS``); ``fill(put)`` calls ``put(byte offset, array)``."""
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(
            f, {"descr": "|u1", "fortran_order": False, "shape": tuple(int(x) for x in shape)}
        )
        start = f.tell()
        total = int(np.prod(shape))
        f.truncate(start + total)

        def put(offset: int, arr: np.ndarray) -> None:
            f.seek(start + offset)
            f.write(np.ascontiguousarray(arr, dtype=np.uint8).tobytes())

        fill(put)
        f.flush()
        os.fsync(f.fileno())


def _build(
    root: str,
    key: str,
    meta: dict,
    paths: Sequence[str],
    load: Callable[[str], np.ndarray],
    layout: Callable[[], tuple[tuple[int, ...], np.ndarray]],
    place: Callable[[np.ndarray, int, np.ndarray], int],
    skip_bad: bool,
    num_workers: int,
) -> str:
    """Build a cache folder atomically: write into ``<key>.partial-*``, rename when complete.

    The free space is checked first (the size is known from the layout); a full disk while
    writing gives the same :class:`CacheSpaceError`, and the partial folder is removed.
    """
    final = os.path.join(root, key)
    remove_stale_folders(root, key, "partial")
    tmp = os.path.join(root, f"{key}.partial-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    shape, index = layout()
    needed = int(np.prod(shape)) + index.nbytes + (1 << 20)
    check_free_space(root, needed)
    os.makedirs(tmp)
    try:
        pixels_path = os.path.join(tmp, _PIXELS)

        def fill(put) -> None:
            def on_image(j: int, arr: Optional[np.ndarray], err: Optional[str]) -> None:
                if arr is None:
                    if not skip_bad:
                        raise BadImageError(err)
                    index[j, 0] = 0
                    return
                put(place(index, j, arr), arr)
                index[j, 0] = 1

            _decode_all(paths, load, num_workers, on_image)

        _write_pixels(pixels_path, shape, fill)
        flat = np.load(pixels_path, mmap_mode="r").reshape(-1)
        sums = chunk_checksums(flat, CHUNK_BYTES)
        del flat
        np.save(os.path.join(tmp, _INDEX), index)
        with open(os.path.join(tmp, _META), "w") as f:
            meta = dict(meta, format=CACHE_FORMAT, count=len(paths), chunk_bytes=CHUNK_BYTES, checksums=sums)
            json.dump(meta, f, indent=1)
        try:
            os.rename(tmp, final)
        except OSError:
            if not os.path.isdir(final):  # not a concurrent build of the same key: a real error
                raise
            shutil.rmtree(tmp, ignore_errors=True)  # another process finished the same cache first
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        if e.errno in (errno.ENOSPC, errno.EDQUOT):
            raise CacheSpaceError(space_message(root, needed)) from e
        raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def _move_aside(folder: str, reason: str) -> None:
    aside = f"{folder}.broken-{uuid.uuid4().hex[:8]}"
    os.rename(folder, aside)
    msg = f"Decoded-image cache {folder} is damaged ({reason}); moved to {aside}, rebuilding"
    print(msg)
    warnings.warn(msg, stacklevel=3)


def _open_or_build(
    root: str, key: str, build: Callable[[], str], in_memory: bool, what: str
) -> DecodedImages:
    if key in _OPEN:
        return _OPEN[key]
    final = os.path.join(root, key)
    cache = None
    if os.path.isdir(final):
        try:
            cache = _open(final, in_memory)
            print(f"Using decoded-image cache {final} ({what})")
        except (OSError, ValueError) as e:
            _move_aside(final, str(e))
    if cache is None:
        os.makedirs(root, exist_ok=True)
        print(f"Building decoded-image cache {final} ({what})")
        cache = _open(build(), in_memory)
        remove_stale_folders(root, key, "broken")
    _OPEN[key] = cache
    return cache


def discard(cache: DecodedImages, reason: str) -> None:
    """Forget ``cache`` in this process and move its folder aside (it is rebuilt on next open)."""
    _OPEN.pop(os.path.basename(cache.path), None)
    if os.path.isdir(cache.path):
        _move_aside(cache.path, reason)


def clear_open_caches() -> None:
    """Forget the caches this process has opened (tests)."""
    _OPEN.clear()


# ----------------------------------------------------------------------------- evaluation cache
def split_test_transform(tfm) -> Optional[tuple[list, list]]:
    """(deterministic PIL head, tensor tail) of a test transform, or None if it is not of a
    cacheable form: ``Resize(shorter edge) -> CenterCrop`` or ``Resize((h, w))`` (squash), then
    ``ToTensor [-> Normalize]``."""
    steps = list(getattr(tfm, "transforms", []))
    n_head = 0
    while n_head < len(steps) and isinstance(steps[n_head], (T.Resize, T.CenterCrop)):
        n_head += 1
    head, tail = steps[:n_head], steps[n_head:]
    if not head or _output_size(head) is None:
        return None
    if (
        not tail
        or not isinstance(tail[0], T.ToTensor)
        or not all(isinstance(t, T.Normalize) for t in tail[1:])
    ):
        return None
    return head, tail


def _pair(size) -> Optional[tuple[int, int]]:
    if isinstance(size, int):
        return None
    size = list(size)
    if len(size) == 1:
        return None
    return int(size[0]), int(size[1])


def _output_size(head: list) -> Optional[tuple[int, int]]:
    """(height, width) every image has after ``head``, or None when it depends on the image."""
    last = head[-1]
    if isinstance(last, T.CenterCrop):
        size = last.size
        if isinstance(size, int):
            return size, size
        return (int(size[0]), int(size[0])) if len(size) == 1 else (int(size[0]), int(size[1]))
    return _pair(last.size) if getattr(last, "max_size", None) is None else None


def _load_head(head: list) -> Callable[[str], np.ndarray]:
    def load(path: str) -> np.ndarray:
        img = read_image(path)
        for t in head:
            img = t(img)
        return np.asarray(img, dtype=np.uint8)

    return load


def eval_cache(
    cache_root: str, dataset: str, paths: Sequence[str], head: list, skip_bad: bool, num_workers: int
) -> DecodedImages:
    """The evaluation cache of ``paths`` under the PIL transform ``head`` (opened or built)."""
    transform = repr(head)
    key = cache_key("eval", paths, transform)
    h, w = _output_size(head)
    n = len(paths)

    def layout():
        return (n, h, w, 3), np.zeros((n, 1), dtype=np.int64)

    def place(index, j, arr) -> int:
        if arr.shape != (h, w, 3):
            raise ValueError(f"{paths[j]}: transform gave shape {arr.shape}, expected {(h, w, 3)}")
        return j * h * w * 3

    meta = {"kind": "eval", "dataset": dataset, "transform": transform, "size": [h, w]}
    return _open_or_build(
        cache_root,
        key,
        lambda: _build(cache_root, key, meta, paths, _load_head(head), layout, place, skip_bad, num_workers),
        in_memory=False,
        what=f"{dataset}, {n} images at {h}x{w}",
    )


def batch_tail(arr: np.ndarray, tail: list) -> torch.Tensor:
    """``ToTensor`` then ``Normalize`` on a (B, H, W, 3) uint8 batch: the same element-wise float
    operations as torchvision applies per image, so the result is bitwise identical."""
    b, h, w, c = arr.shape
    x = torch.empty((b, c, h, w), dtype=torch.get_default_dtype())
    x.copy_(torch.from_numpy(arr).permute(0, 3, 1, 2))  # cast and layout change in one pass
    x.div_(255)
    for t in tail[1:]:
        mean = torch.as_tensor(t.mean, dtype=x.dtype).view(-1, 1, 1)
        std = torch.as_tensor(t.std, dtype=x.dtype).view(-1, 1, 1)
        x.sub_(mean).div_(std)
    return x


def resolve_index(valid: np.ndarray, idx: int, path_of: Callable[[int], str]) -> int:
    """The item served at ``idx``: itself, or (skipping bad images) the next valid one, wrapping."""
    n = valid.shape[0]
    for step in range(n):
        j = (idx + step) % n
        if valid[j]:
            return j
        warnings.warn(
            f"Skipping bad image (DATASET.SKIP_BAD_IMAGES): {path_of(j)} could not be decoded when the "
            "image cache was built",
            stacklevel=3,
        )
    raise BadImageError(f"No readable image in the data source ({n} items); see the warnings above.")


class CachedEvalLoader:
    """Drop-in for the sequential evaluation ``DataLoader``: same batches, read from the cache.

    ``cache`` may be a callable that opens or builds it: it is then called on the first pass, so
    a run whose features come from the feature cache never decodes the split.
    """

    def __init__(
        self,
        cache: DecodedImages | Callable[[], DecodedImages],
        data_source: Sequence,
        batch_size: int,
        tail: list,
        pin_memory=False,
    ):
        self._cache = cache
        self._reopen = cache if callable(cache) else None
        self.data_source = data_source
        self.batch_size = int(batch_size)
        self.tail = tail
        self.pin_memory = pin_memory
        self.drop_last = False

    @property
    def cache(self) -> DecodedImages:
        if callable(self._cache):
            self._cache = self._cache()
        return self._cache

    def __len__(self) -> int:
        return (len(self.data_source) + self.batch_size - 1) // self.batch_size

    def _checked_rows(self, js: list[int]) -> np.ndarray:
        """The cached pixels of rows ``js``, their chunks checked; a damaged cache is moved aside
        and rebuilt (with a warning) when this loader can reopen it, else the error is raised."""
        try:
            self.cache.verify_rows(js)
        except CacheCorruptError as e:
            discard(self.cache, str(e))
            if self._reopen is None:
                raise
            self._cache = self._reopen()
            self.cache.verify_rows(js)
        return self.cache.pixels[js]

    def __iter__(self):
        # A DataLoader iterator draws its base seed from the global RNG; draw it too, so that
        # every later random number of the run is the same with and without the cache.
        torch.empty((), dtype=torch.int64).random_()
        n = len(self.data_source)
        for start in range(0, n, self.batch_size):
            js = [
                resolve_index(self.cache.valid, i, lambda k: self.data_source[k].impath)
                for i in range(start, min(n, start + self.batch_size))
            ]
            img = batch_tail(self._checked_rows(js), self.tail)
            if self.pin_memory:
                img = img.pin_memory()
            items = [self.data_source[j] for j in js]
            yield {
                "label": torch.tensor([d.label for d in items], dtype=torch.int64),
                "domain": torch.tensor([d.domain for d in items], dtype=torch.int64),
                "impath": [d.impath for d in items],
                "index": torch.tensor(js, dtype=torch.int64),
                "img": img,
            }


# ----------------------------------------------------------------------------- training originals
def _load_original(path: str) -> np.ndarray:
    return np.asarray(read_image(path), dtype=np.uint8)


def originals_cache(cache_root: str, paths: Sequence[str], skip_bad: bool, num_workers: int) -> DecodedImages:
    """The decoded RGB originals of ``paths`` (opened or built); in memory when small."""
    key = cache_key("originals", paths, "RGB")
    n = len(paths)

    def layout():
        index = np.zeros((n, 4), dtype=np.int64)
        offset = 0
        for j, p in enumerate(paths):
            h, w = header_size(p)
            index[j, 1:] = (offset, h, w)
            offset += h * w * 3
        return (max(offset, 1),), index

    def place(index, j, arr) -> int:
        _, start, h, w = (int(x) for x in index[j])
        if arr.shape != (h, w, 3):
            raise ValueError(f"{paths[j]}: decoded shape {arr.shape} differs from its header ({h}, {w}, 3)")
        return start

    meta = {"kind": "originals"}
    return _open_or_build(
        cache_root,
        key,
        lambda: _build(cache_root, key, meta, paths, _load_original, layout, place, skip_bad, num_workers),
        in_memory=True,
        what=f"{n} training originals",
    )


class CachedOriginals:
    """The training loader's image source (:class:`ramt.data.images.ImageSource`) serving the
    decoded originals instead of the files.

    ``Image.fromarray`` of the cached pixels is the image ``read_image`` returns, so the
    transform (and its random draws, which happen in the same order) gives the same tensors.
    """

    def __init__(self, originals: DecodedImages) -> None:
        self.originals = originals

    def load(self, data_source: Sequence, idx: int):
        j = resolve_index(self.originals.valid, idx, lambda k: data_source[k].impath)
        return j, data_source[j], Image.fromarray(np.ascontiguousarray(self.originals.image(j)), "RGB")


# ----------------------------------------------------------------------------- hooks for the loaders
def image_cache_root(cfg) -> str:
    return os.path.join(resolve_cache_dir(cfg), "images")


def _num_workers(cfg) -> int:
    return max(0, min(int(cfg.DATALOADER.NUM_WORKERS), os.cpu_count() or 1))


def cached_eval_loader(cfg, data_source: Sequence, batch_size: int, tfm, sampler_type: str, pin_memory: bool):
    """A :class:`CachedEvalLoader` for a sequential evaluation loader, or None when the cache is
    off (``DATALOADER.IMAGE_CACHE False``) or does not apply (random sampler, ``RETURN_IMG0``,
    a transform that is not resize + centre crop + to-tensor [+ normalise])."""
    if not cfg.DATALOADER.IMAGE_CACHE or tfm is None or sampler_type != "SequentialSampler":
        return None
    if cfg.DATALOADER.RETURN_IMG0:
        return None
    parts = split_test_transform(tfm)
    if parts is None:
        return None
    head, tail = parts
    paths = [d.impath for d in data_source]
    root, skip_bad, workers = image_cache_root(cfg), bool(cfg.DATASET.SKIP_BAD_IMAGES), _num_workers(cfg)

    def open_cache() -> DecodedImages:
        return eval_cache(root, cfg.DATASET.NAME, paths, head, skip_bad, workers)

    return CachedEvalLoader(open_cache, data_source, batch_size, tail, pin_memory=pin_memory)


def originals_source(cfg, data_source: Sequence, tfm) -> Optional[CachedOriginals]:
    """The image source serving the cached decoded originals of a few-shot training set, or None
    when the cache is off or the run is not few-shot (``DATASET.NUM_SHOTS`` <= 0)."""
    if not cfg.DATALOADER.IMAGE_CACHE or tfm is None or int(cfg.DATASET.NUM_SHOTS) <= 0:
        return None
    paths = [d.impath for d in data_source]
    originals = originals_cache(
        image_cache_root(cfg), paths, bool(cfg.DATASET.SKIP_BAD_IMAGES), _num_workers(cfg)
    )
    return CachedOriginals(originals)
