"""The shipped published numbers and their loader."""

from __future__ import annotations

import math

from ramt.methods import PAPER_DATASETS
from ramt.published import PUBLISHED_CSV, load_published, published_lookup, published_value


def test_loader_types_and_shape():
    df = load_published()
    assert PUBLISHED_CSV.is_file()
    assert list(df.columns) == ["source", "protocol", "shots", "method", "dataset", "accuracy", "error_bar"]
    assert df["shots"].dtype.kind == "i" and set(df["protocol"]) == {"fewshot"}
    assert set(df["dataset"]) == set(PAPER_DATASETS) | {"Average"}
    assert math.isnan(df[df["method"] == "CoOp"]["error_bar"].iloc[0])


def test_values_and_sources():
    assert published_value("R-AMT", "Average", 16) == 83.96
    assert published_value("ZeroShotCLIP", "Average", 16) == 65.23  # zero-shot lives at shots 0
    assert published_value("CoOp+R-AMT", "Caltech101", 16) == 96.70  # README only
    assert published_value("Tip-Adapter+R-AMT", "Average", 16) == 84.37
    assert published_value("CoOp+R-AMT", "Caltech101", 4) is None
    assert published_value("R-AMT", "Digits", 16) is None
    lut = published_lookup()
    assert lut[(16, "R-AMT", "Caltech101")] == (97.00, 0.37)  # project page wins (has error bars)


def test_averages_match_their_rows():
    lut = published_lookup()
    for (shots, method, dataset), (acc, _) in lut.items():
        if dataset != "Average":
            continue
        vals = [lut[(shots, method, d)][0] for d in PAPER_DATASETS]
        assert abs(sum(vals) / 11 - acc) < 0.02, (shots, method)
