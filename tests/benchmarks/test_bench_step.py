"""Smoke test: benchmarks/bench_step.py runs on the CPU with the tiny backbone and writes JSON."""

import json

from benchmarks.bench_step import format_table, main


def test_bench_step_cpu_tiny(tmp_path, capsys):
    out = tmp_path / "bench.json"
    payload = main(
        ["--backbone", "tiny", "--device", "cpu", "--steps", "2", "--warmup", "0", "--batch", "2"]
        + ["--cases", "zsclip,ramt,tipf", "--out", str(out)]
    )
    results = payload["results"]
    assert {r["case"] for r in results} == {"zsclip", "ramt", "tipf"}
    assert {r["mode"] for r in results} == {"fast", "reference"}
    errors = [r for r in results if "error" in r]
    assert not errors, errors
    for r in results:
        assert r["ms_per_step"] > 0 and r["images_per_s"] > 0 and r["peak_gib"] is None
    fast = [r for r in results if r["mode"] == "fast"]
    assert all(r["speedup_vs_reference"] > 0 for r in fast)
    assert json.loads(out.read_text())["backbone"] == "tiny"
    printed = capsys.readouterr().out
    assert "ms/step" in printed and "ramt" in printed
    assert "ref/fast" in format_table(results)
