"""The data model: :class:`Datum` records and :class:`DatasetBase` (Dassl-compatible names)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Sequence
from typing import Optional

__all__ = ["Datum", "DatasetBase", "split_dataset_by_label", "get_num_classes", "get_lab2cname"]


class Datum:
    """One image record: path, integer label, domain and raw class name.

    The attribute names (``_impath``, ``_label``, ``_domain``, ``_classname``) match Dassl's so
    that legacy few-shot pickles can be restored into this class. No existence check is made.
    """

    def __init__(self, impath: str = "", label: int = 0, domain: int = 0, classname: str = ""):
        if not isinstance(impath, str):
            raise TypeError(f"Datum impath must be a str, got {type(impath).__name__}: {impath!r}")
        self._impath = impath
        self._label = int(label)
        self._domain = int(domain)
        self._classname = str(classname)

    @property
    def impath(self) -> str:
        return self._impath

    @property
    def label(self) -> int:
        return self._label

    @property
    def domain(self) -> int:
        return self._domain

    @property
    def classname(self) -> str:
        return self._classname

    def _key(self):
        return (self._impath, self._label, self._domain, self._classname)

    def __eq__(self, other) -> bool:
        if not isinstance(other, Datum):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return f"Datum(impath={self._impath!r}, label={self._label}, domain={self._domain}, classname={self._classname!r})"


def split_dataset_by_label(data_source: Iterable[Datum]) -> OrderedDict[int, list[Datum]]:
    """Group items by label; labels keep the order in which they first appear, items keep list order."""
    out: OrderedDict[int, list[Datum]] = OrderedDict()
    for item in data_source:
        out.setdefault(item.label, []).append(item)
    return out


def get_num_classes(data_source: Sequence[Datum]) -> int:
    """Max label + 1 (0 for an empty list)."""
    return max((item.label for item in data_source), default=-1) + 1


def get_lab2cname(data_source: Iterable[Datum]) -> tuple[dict[int, str], list[str]]:
    """Return ``(label -> class name, class names ordered by label)`` from the items."""
    mapping: dict[int, str] = {}
    for item in data_source:
        mapping.setdefault(item.label, item.classname)
    labels = sorted(mapping)
    return {lab: mapping[lab] for lab in labels}, [mapping[lab] for lab in labels]


class DatasetBase:
    """A dataset: train_x / train_u / val / test lists of :class:`Datum` plus derived class info.

    ``num_classes`` is max label of ``train_x`` + 1. A test-only dataset passes ``classnames``
    explicitly instead of a fake train set. The labels of the reference list (train_x, else test)
    must be exactly 0..C-1; the other lists must stay within that range.
    """

    dataset_dir = ""  # subclasses: folder under the data root
    domains: list[str] = []

    def __init__(
        self,
        train_x: Optional[list] = None,
        train_u: Optional[list] = None,
        val: Optional[list] = None,
        test: Optional[list] = None,
        classnames: Optional[Sequence[str]] = None,
        split_fingerprint: str = "",
    ):
        self._train_x = list(train_x) if train_x is not None else []
        self._train_u = list(train_u) if train_u is not None else None
        self._val = list(val) if val is not None else None
        self._test = list(test) if test is not None else []
        self._split_fingerprint = split_fingerprint
        name = type(self).__name__

        reference = self._train_x if self._train_x else self._test
        if classnames is not None:
            self._classnames = [str(c) for c in classnames]
            self._num_classes = len(self._classnames)
            self._lab2cname = dict(enumerate(self._classnames))
        else:
            if not reference:
                raise ValueError(
                    f"Dataset {name}: no training or test items and no class names; "
                    "the split lists are empty. Check the split file and DATASET.ROOT."
                )
            self._num_classes = get_num_classes(reference)
            self._lab2cname, self._classnames = get_lab2cname(reference)

        labels = {item.label for item in reference}
        if classnames is None and labels != set(range(self._num_classes)):
            missing = sorted(set(range(self._num_classes)) - labels)[:10]
            raise ValueError(
                f"Dataset {name}: labels must be exactly 0..{self._num_classes - 1}; "
                f"missing labels {missing} (min label {min(labels)}). The split file or "
                "class subsampling produced a gap."
            )
        for split, items in (("train_x", self._train_x), ("val", self._val or []), ("test", self._test)):
            bad = [it.label for it in items if not 0 <= it.label < self._num_classes]
            if bad:
                raise ValueError(
                    f"Dataset {name}: {split} has labels outside 0..{self._num_classes - 1} "
                    f"(e.g. {bad[0]}); they must share the label space of the class list."
                )

    def drop_items(self, impaths) -> None:
        """Remove the items whose image path is in ``impaths`` from every list (bad images)."""
        bad = set(impaths)
        self._train_x = [d for d in self._train_x if d.impath not in bad]
        self._val = [d for d in self._val if d.impath not in bad] if self._val is not None else None
        self._test = [d for d in self._test if d.impath not in bad]

    @property
    def train_x(self) -> list:
        return self._train_x

    @property
    def train_u(self) -> Optional[list]:
        return self._train_u

    @property
    def val(self) -> Optional[list]:
        return self._val

    @property
    def test(self) -> list:
        return self._test

    @property
    def num_classes(self) -> int:
        return self._num_classes

    @property
    def lab2cname(self) -> dict[int, str]:
        return self._lab2cname

    @property
    def classnames(self) -> list[str]:
        return self._classnames

    @property
    def split_fingerprint(self) -> str:
        return self._split_fingerprint

    @property
    def num_source_domains(self) -> int:
        return len({item.domain for item in self._train_x}) if self._train_x else 1
