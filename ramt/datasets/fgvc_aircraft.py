"""FGVC-Aircraft (variants): read from the official list files, no split JSON."""

import os

from ramt.data.datum import Datum
from ramt.data.splits import SplitFileNotFoundError, SplitFormatError, file_fingerprint
from ramt.registry import DATASET_REGISTRY

from ._base import SplitJSONDataset

_SPLITS = ("train", "val", "test")


@DATASET_REGISTRY.register()
class FGVCAircraft(SplitJSONDataset):
    """``variants.txt`` gives the labels (line index); ``images_variant_<split>.txt`` the images."""

    def _list_path(self, fname: str) -> str:
        path = os.path.join(self.dataset_dir, fname)
        if not os.path.isfile(path):
            raise SplitFileNotFoundError(
                f"FGVCAircraft list file not found: {path}. It comes with fgvc-aircraft-2013b.tar.gz: keep "
                f"its data/ folder and rename it to {self.dataset_dir}; see docs/DATASETS.md."
            )
        return path

    def list_files(self) -> list[str]:
        return [self._list_path("variants.txt")] + [
            self._list_path(f"images_variant_{s}.txt") for s in _SPLITS
        ]

    def read_lists(self):
        paths = self.list_files()
        with open(paths[0], encoding="utf-8") as f:
            variants = [line.strip() for line in f if line.strip()]
        label_of = {name: i for i, name in enumerate(variants)}
        lists = []
        for path in paths[1:]:
            items = []
            with open(path, encoding="utf-8") as f:
                for lineno, line in enumerate(f, 1):
                    line = line.strip()
                    if not line:
                        continue
                    parts = line.split(" ", 1)
                    if len(parts) != 2 or parts[1] not in label_of:
                        raise SplitFormatError(
                            f"{path}, line {lineno}: expected '<image id> <variant>' with a variant from "
                            f"variants.txt, got {line!r}."
                        )
                    image_id, variant = parts
                    items.append(
                        Datum(
                            os.path.join(self.image_dir, image_id + ".jpg"),
                            label_of[variant],
                            classname=variant,
                        )
                    )
            lists.append(items)
        return lists[0], lists[1], lists[2]

    def fingerprint(self) -> str:
        return file_fingerprint(*self.list_files())
