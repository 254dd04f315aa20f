"""FGVC-Aircraft (variants): read from the official list files, no split JSON."""

import os

from ramt.data.splits import SplitFileNotFoundError, file_fingerprint, read_fgvc_list, read_fgvc_variants
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
        variants_path, *list_paths = self.list_files()
        variants = read_fgvc_variants(variants_path)
        label_of = {name: i for i, name in enumerate(variants)}
        train, val, test = (read_fgvc_list(p, label_of, self.image_dir) for p in list_paths)
        return train, val, test

    def fingerprint(self) -> str:
        return file_fingerprint(*self.list_files())
