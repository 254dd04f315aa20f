"""Image reading: the one place a dataset image is opened, its error, and the loaders' load step.

:class:`~ramt.data.manager.DatasetWrapper` gets each sample's image through an
:class:`ImageSource` (its ``load`` step): :class:`DecodeImages` decodes the file, and the
training-image cache (:mod:`ramt.data.image_cache`) supplies a source that serves the decoded
originals instead. Both the manager and the cache import this module; neither imports the other
back.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from PIL import Image

from ramt.utils.io import file_stamp

from .datum import Datum

__all__ = ["BadImageError", "DecodeImages", "ImageSource", "file_stamp", "header_size", "read_image"]

# What PIL raises for a file that is not a readable image.
_DECODE_ERRORS = (OSError, ValueError, SyntaxError, Image.DecompressionBombError)


class BadImageError(OSError):
    """An image listed by the dataset that cannot be opened or decoded."""


def read_image(path: str) -> Image.Image:
    """Open an image with PIL and convert it to RGB (decoding it fully)."""
    try:
        with Image.open(path) as img:
            return img.convert("RGB")
    except FileNotFoundError as e:
        raise BadImageError(
            f"Image not found: {path}. Check DATASET.ROOT and that the dataset is fully extracted "
            "(see docs/DATASETS.md); DATASET.SKIP_BAD_IMAGES True skips such items."
        ) from e
    except _DECODE_ERRORS as e:
        raise BadImageError(
            f"Cannot read image {path}: {e}. The file is corrupt or not an image; replace it, or set "
            "DATASET.SKIP_BAD_IMAGES True to skip it with a warning."
        ) from e


def header_size(path: str) -> tuple[int, int]:
    """(height, width) from the image header (no decoding); (0, 0) when unreadable."""
    try:
        with Image.open(path) as img:
            w, h = img.size
        return h, w
    except _DECODE_ERRORS:
        return 0, 0


class ImageSource(Protocol):
    """The wrapper's load step: item ``idx`` of ``data_source`` as (served index, datum, RGB image)."""

    def load(self, data_source: Sequence[Datum], idx: int) -> tuple[int, Datum, Image.Image]: ...


class DecodeImages:
    """The default source: decode the listed file (an unreadable one raises :class:`BadImageError`)."""

    def load(self, data_source: Sequence[Datum], idx: int) -> tuple[int, Datum, Image.Image]:
        item = data_source[idx]
        return idx, item, read_image(item.impath)
