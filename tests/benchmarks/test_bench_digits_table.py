"""The Digits table benchmark: collects results.json per label and replaces only its marked block."""

import json

from benchmarks import bench_digits_table as bench


def write_run(root, label, seed, acc, zeros=None):
    run = root / "digits" / label.replace("+", "_") / f"seed{seed}"
    run.mkdir(parents=True)
    res = {
        "method": label,
        "seed": seed,
        "dataset_config": "digits",
        "metrics": {"accuracy": acc},
        "elapsed_s": 2.0,
    }
    if zeros is not None:
        res["sparsity"] = {"zeros": zeros}
    (run / "results.json").write_text(json.dumps(res))


def test_table_and_marked_block(tmp_path, monkeypatch):
    out = tmp_path / "output"
    for seed, acc in ((1, 10.0), (2, 20.0)):
        write_run(out, "VPT-deep", seed, acc)
        write_run(out, "R-AMT", seed, 30.0, zeros=5)
    rows = bench.collect(out)
    table = bench.format_table(rows, 4)
    assert "| R-AMT | 30.00 ± 0.00 | 2 | 2 | 5, 5 |" in table
    assert "| VPT-deep | 15.00 ± 7.07 | 2 | 2 |  |" in table
    assert table.index("| VPT-deep") < table.index("| R-AMT")  # registry order (the published table's rows)
    doc = tmp_path / "BASELINES.md"
    doc.write_text(f"# Doc\nbefore\n{bench.START}\nold table\n{bench.END}\nafter\n")
    monkeypatch.setattr(bench, "DOC", doc)
    bench.write_doc(table, "note")
    text = doc.read_text()
    assert text.startswith("# Doc\nbefore\n") and text.endswith(f"{bench.END}\nafter\n")
    assert "old table" not in text and "note\n\n| Method" in text
