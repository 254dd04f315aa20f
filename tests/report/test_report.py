"""The collector, tables and plots on a fabricated output tree (no training, a few seconds)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from ramt.report import main as report_main
from ramt.report import write_report
from ramt.report.collect import collect_runs, parse_cfg_dump, parse_elapsed, parse_log
from ramt.report.tables import base2new_summary, fewshot_table_md, harmonic_mean, missing_runs
from tests.report.fabricate import log_text, make_cfg, write_run

# Hand-chosen accuracies.
RAMT_CAL = {1: 95.0, 2: 96.0, 3: 97.5}  # results.json only for seed 3 (json value wins)
RAMT_FLO = {1: 97.0, 2: 98.0}  # seed 3 crashed
COOP_CAL = {1: 94.0, 2: 95.0}  # seed 3 missing (no folder)
TIPF_CAL = {1: 95.5, 2: 95.7, 3: 96.0}
DIGITS = {1: 80.0, 2: 82.0, 3: 84.0}  # tiny backbone, no published numbers
ZS = {"caltech101": 93.0, "oxford_flowers": 70.5}


def pstd(xs):
    m = sum(xs) / len(xs)
    return math.sqrt(sum((x - m) ** 2 for x in xs) / len(xs))


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    out = tmp_path_factory.mktemp("output")
    for s, acc in RAMT_CAL.items():
        cfg = make_cfg("RAMT", "caltech101", 16, s)
        folder = out / "caltech101/RAMT/vit_b16_16shots" / f"seed{s}"
        if s == 3:  # results.json and a log whose value differs: the json must win
            write_run(folder, cfg, result=10.0, json_result=acc, sparsity=2.56)
        else:
            write_run(folder, cfg, result=acc, sparsity=2.56)
    for s, acc in RAMT_FLO.items():
        write_run(
            out / "oxford_flowers/RAMT/vit_b16_16shots" / f"seed{s}",
            make_cfg("RAMT", "oxford_flowers", 16, s),
            result=acc,
            sparsity=2.0,
        )
    write_run(
        out / "oxford_flowers/RAMT/vit_b16_16shots/seed3",
        make_cfg("RAMT", "oxford_flowers", 16, 3),
        result=None,
    )
    for s, acc in COOP_CAL.items():
        write_run(
            out / "caltech101/CoOp/vit_b16_16shots/nctx16_cscFalse_ctpend" / f"seed{s}",
            make_cfg("CoOp", "caltech101", 16, s),
            result=acc,
        )
    for s, acc in TIPF_CAL.items():
        write_run(
            out / "caltech101/TipAdapter/vit_b16_16shots/tipf" / f"seed{s}",
            make_cfg("TipAdapter", "caltech101", 16, s, finetune=True),
            result=acc,
        )
    for s, acc in DIGITS.items():
        write_run(
            out / "digits/RAMT/tiny_16shots" / f"seed{s}",
            make_cfg("RAMT", "digits", 16, s, backbone="tiny"),
            result=acc,
            sparsity=1.0,
        )
    for d, acc in ZS.items():  # evaluation-only logs, no seed level
        write_run(
            out / "ZeroshotCLIP/vit_b16" / d,
            make_cfg("ZeroshotCLIP", d, -1, 1),
            result=acc,
            trained=False,
            eval_only=True,
        )
    # 4-shot R-AMT on Caltech101 for the curves.
    for s, acc in {1: 90.0, 2: 91.0, 3: 92.0}.items():
        write_run(
            out / "caltech101/RAMT/vit_b16_4shots" / f"seed{s}",
            make_cfg("RAMT", "caltech101", 4, s),
            result=acc,
        )
    # Base-to-new: B and N over 2 datasets.
    b2n = {
        ("caltech101", "base"): [98.0, 98.4],
        ("caltech101", "new"): [94.0, 95.0],
        ("oxford_flowers", "base"): [97.0, 97.2],
        ("oxford_flowers", "new"): [75.0, 76.0],
    }
    for (d, sub), accs in b2n.items():
        for s, acc in enumerate(accs, 1):
            kind = "train_base" if sub == "base" else "test_new"
            write_run(
                out / "base2new" / kind / d / "shots_16/RAMT/vit_b16/t" / f"seed{s}",
                make_cfg("RAMT", d, 16, s, subsample=sub),
                result=acc,
                trained=sub == "base",
                eval_only=sub == "new",
            )
    # Domain generalisation: two targets, and the ImageNet source runs.
    for s, acc in {1: 72.0, 2: 72.4}.items():
        write_run(
            out / "imagenet/RAMT/vit_b16_16shots" / f"seed{s}",
            make_cfg("RAMT", "imagenet", 16, s),
            result=acc,
        )
        write_run(
            out / "evaluation/RAMT/vit_b16_16shots/t/imagenetv2" / f"seed{s}",
            make_cfg("RAMT", "imagenetv2", 16, s),
            result=acc - 7,
            trained=False,
            eval_only=True,
        )
        write_run(
            out / "evaluation/RAMT/vit_b16_16shots/t/imagenet_sketch" / f"seed{s}",
            make_cfg("RAMT", "imagenet_sketch", 16, s),
            result=acc - 23,
            trained=False,
            eval_only=True,
        )
    return out


def test_parse_helpers():
    assert parse_elapsed("Elapsed: 0:41:07") == 2467
    assert parse_elapsed("Elapsed: 1 day, 2:03:04") == 86400 + 7384
    cfg = parse_cfg_dump(
        ["A:", "  B: ('attn', 'conv1')", "  C: ", "  D:", "    E: 1e-05", "F: ViT-B/16", "Other text"]
    )
    assert cfg == {"A": {"B": ("attn", "conv1"), "C": "", "D": {"E": 1e-05}}, "F": "ViT-B/16"}


def test_parse_log_result_after_finish_training_only():
    cfg = make_cfg("RAMT", "caltech101", 16, 1)
    p = parse_log(log_text(cfg, result=95.4, sparsity=2.56))
    assert p["metrics"]["accuracy"] == 95.4  # not the 25.00 validation result before Finish training
    assert p["metrics"]["macro_f1"] == pytest.approx(94.4)
    assert p["metrics"]["zeros"] == 739875 and p["metrics"]["sparsity"] == 2.56  # not the step-0 zeros
    assert p["metrics"]["sparsity_clip"] == 0.49
    assert p["elapsed_s"] == 2467 and p["config"]["TRAINER"]["NAME"] == "RAMT" and not p["eval_only"]
    crashed = parse_log(log_text(cfg, result=0.0, crashed=True))
    assert not crashed["finished"] and crashed["config"]["SEED"] == 1


def test_tidy_rows(tree):
    df = collect_runs(tree)
    fs = df[df["protocol"] == "fewshot"]
    r = fs[(fs["method"] == "R-AMT") & (fs["dataset"] == "Caltech101") & (fs["shots"] == 16)].set_index(
        "seed"
    )
    assert r.loc[3, "accuracy"] == 97.5 and r.loc[3, "source"] == "results.json"
    assert r.loc[3, "sparsity"] == 2.5 and r.loc[3, "elapsed_s"] == 812.3
    assert r.loc[1, "source"] == "log.txt" and r.loc[1, "sparsity"] == 2.56 and r.loc[1, "zeros"] == 739875
    assert r.loc[1, "elapsed_s"] == 2467 and r.loc[1, "macro_f1"] == pytest.approx(94.0)
    zs = fs[fs["method"] == "ZeroShotCLIP"]
    assert sorted(zs["accuracy"]) == [70.5, 93.0] and set(zs["shots"]) == {0} and set(zs["status"]) == {"ok"}
    assert set(zs["dataset"]) == {"Caltech101", "Flowers102"}
    flo = df[(df["method"] == "R-AMT") & (df["dataset"] == "Flowers102")].set_index("seed")
    assert flo.loc[3, "status"] == "crashed" and pd.isna(flo.loc[3, "accuracy"])
    assert set(df[df["method"] == "Tip-Adapter-F"]["dataset"]) == {"Caltech101"}
    assert set(df[df["backbone"] == "tiny"]["dataset"]) == {"Digits"}
    assert set(df["protocol"]) == {"fewshot", "base2new", "domain_generalisation"}


def test_missing_and_crashed(tree):
    miss = missing_runs(collect_runs(tree))
    got = {
        (r.kind, r.method, r.dataset, int(r.shots), int(r.seed))
        for r in miss.itertuples()
        if r.protocol == "fewshot"
    }
    assert got == {
        ("crashed", "R-AMT", "Flowers102", 16, 3),
        ("missing", "CoOp", "Caltech101", 16, 3),
        ("missing", "R-AMT", "ImageNet", 16, 3),
    }
    # Domain generalisation seed 3 is missing for both targets, and the ImageNet source.
    dg = miss[miss["protocol"] == "domain_generalisation"]
    assert sorted(dg["dataset"]) == ["ImageNet-Sketch", "ImageNet-V2"] and set(dg["seed"]) == {3}


def table_under(md, heading):
    """``{first cell: [other cells]}`` of the first Markdown table after the line ``heading``."""
    lines = md.split(heading, 1)[1].splitlines()
    rows, started = {}, False
    for line in lines:
        if line.startswith("| "):
            started = True
            cells = [c.strip() for c in line.strip("|").split("|")]
            rows[cells[0]] = cells[1:]
        elif started and not line.startswith("|"):
            break
    return rows


def test_fewshot_markdown_cells(tree):
    df = collect_runs(tree)
    md = fewshot_table_md(df, with_published=True, shots=[16])
    ours_rows = table_under(md, "## 16 shots")
    assert ours_rows["Method"] == ["ImageNet", "Caltech101", "Flowers102", "Digits", "Average"]
    rows = table_under(md, "### 16 shots: ours vs published")

    def cells(label):
        return rows[label]

    cal = list(RAMT_CAL.values())
    flo = list(RAMT_FLO.values())
    ours = ours_rows["R-AMT"]
    assert ours[1] == f"{np.mean(cal):.2f} ± {pstd(cal):.2f} (3)" == "96.17 ± 1.03 (3)"
    assert ours[2] == f"{np.mean(flo):.2f} ± {pstd(flo):.2f} (2)" == "97.50 ± 0.50 (2)"
    assert ours[3] == "—"
    avg = np.mean([72.2, np.mean(cal), np.mean(flo)])
    assert ours[4] == f"{avg:.2f} (3/4 datasets)"
    assert ours_rows["CoOp"][1] == "94.50 ± 0.50 (2)"
    assert ours_rows["ZeroShotCLIP"][1:3] == ["93.00 ± 0.00 (1)", "70.50 ± 0.00 (1)"]
    assert ours_rows["R-AMT [tiny]†"][3] == "82.00 ± 1.63 (3)"
    # The full published table: all 11 paper datasets (+ our Digits), published Average and Gain.
    assert rows["Method"][-3:] == ["Digits", "Average", "Gain"] and len(rows["Method"]) == 11 + 3
    # Published side by side: R-AMT 16 shots Caltech101 97.00, OxfordPets 93.80 (project page).
    pub = cells("R-AMT (published)")
    assert pub[1] == "97.00" and pub[2] == "93.80" and pub[11] == "—" and pub[12] == "83.96"
    assert cells("R-AMT (ours)")[1] == "96.17 ± 1.03 (3)" and cells("R-AMT (ours)")[2] == "—"
    delta = cells("R-AMT (Δ)")
    assert delta[1] == f"{np.mean(cal) - 97.00:+.2f}" and delta[2] == "—"
    # Average Δ: our 3 datasets against the published mean of the same 3 datasets.
    same = np.mean([73.07, 97.00, 98.17])
    assert delta[12] == f"{avg - same:+.2f}"
    assert cells("Tip-Adapter (published)")[1] == "95.63"  # compared with our Tip-Adapter-F
    assert cells("Tip-Adapter-F (Δ)")[1] == f"{np.mean(list(TIPF_CAL.values())) - 95.63:+.2f}"
    assert cells("ZeroShotCLIP (published)")[1] == "92.94"
    assert cells("R-AMT [tiny]† (Δ)")[0] == "n/c"
    assert cells("Tip-Adapter+R-AMT (published)")[13] == "+3.13"  # 84.37 - 81.24, as the README
    assert cells("CoOp+R-AMT (published)")[13] == "+3.26"
    assert "not comparable" in md and "crashed" in md


def test_every_published_cell_is_shown_even_without_runs(tree):
    from ramt.published import load_published

    md = fewshot_table_md(collect_runs(tree), with_published=True, shots=[16])
    rows = table_under(md, "### 16 shots: ours vs published")
    header = rows["Method"]
    pub = load_published()
    pub = pub[(pub["shots"] == 16) & (pub["source"] == "R-AMT project page few-shot table")]
    for r in pub.itertuples():
        col = "Average" if r.dataset == "Average" else r.dataset
        assert rows[f"{r.method} (published)"][header.index(col)] == f"{r.accuracy:.2f}", (
            r.method,
            r.dataset,
        )
    # A user with no run at all still sees the 16-shot published table.
    empty = fewshot_table_md(collect_runs(tree / "nothing-here"), with_published=True)
    assert "R-AMT (published)" in table_under(empty, "### 16 shots: ours vs published")


def test_verdicts_use_our_seed_std(tree):
    md = fewshot_table_md(collect_runs(tree), with_published=True, shots=[16])
    v = table_under(md, "### 16 shots: verdict per method")
    tipf = list(TIPF_CAL.values())
    sigma = math.sqrt(pstd(tipf) ** 2 * (1 / 3 + 1 / 3))  # one dataset
    assert v["Tip-Adapter-F"][:3] == ["Tip-Adapter", "1/11", "3"]
    assert v["Tip-Adapter-F"][6] == f"{2 * sigma:.2f}"
    assert v["Tip-Adapter-F"][7].startswith("within seed noise")  # +0.10 against 2σ = 0.34
    assert v["CoOp"][7].startswith("below published by 0.97")  # 94.50 vs 95.47, 2σ = 0.91
    assert v["ZeroShotCLIP"][7].endswith("(1 seed: no noise estimate)")
    assert "R-AMT [tiny]†" not in v  # not comparable: no verdict


def test_base2new_harmonic_mean(tree):
    s = base2new_summary(collect_runs(tree)).set_index("dataset")
    b_cal, n_cal = np.mean([98.0, 98.4]), np.mean([94.0, 95.0])
    assert s.loc["Caltech101", "hm"] == pytest.approx(2 * b_cal * n_cal / (b_cal + n_cal))
    b, n = np.mean([b_cal, np.mean([97.0, 97.2])]), np.mean([n_cal, np.mean([75.0, 76.0])])
    assert s.loc["Average", "hm"] == pytest.approx(harmonic_mean(b, n))
    # Not the mean of the per-dataset H values.
    assert s.loc["Average", "hm"] != pytest.approx(s.loc[["Caltech101", "Flowers102"], "hm"].mean())


def test_write_report_files(tree, tmp_path):
    out = tmp_path / "rep"
    rc = report_main([str(tree), "--published", "--out", str(out)])
    assert rc == 0
    for name in [
        "results_tidy.csv",
        "fewshot_summary.csv",
        "fewshot_table.md",
        "missing.md",
        "base2new_table.md",
        "domain_generalisation_table.md",
    ]:
        assert (out / name).stat().st_size > 0, name
    for stem in ["fewshot_caltech101", "fewshot_flowers102", "fewshot_digits", "fewshot_average"]:
        for ext in ("png", "pdf"):
            assert (out / f"{stem}.{ext}").stat().st_size > 1000, stem
    tidy = pd.read_csv(out / "results_tidy.csv")
    assert len(tidy) == len(collect_runs(tree))
    assert {
        "method",
        "dataset",
        "shots",
        "seed",
        "backbone",
        "accuracy",
        "macro_f1",
        "sparsity",
        "elapsed_s",
        "status",
        "path",
    } <= set(tidy.columns)
    b2n = (out / "base2new_table.md").read_text()
    assert "| Caltech101 | 98.20 ± 0.20 (2) | 94.50 ± 0.50 (2) | 96.31 |" in b2n
    dg = (out / "domain_generalisation_table.md").read_text()
    assert (
        "| R-AMT | 72.20 ± 0.20 (2) | 65.20 ± 0.20 (2) | 49.20 ± 0.20 (2) | — | — | 57.20 (2/4 targets) |"
        in dg
    )
    missing = (out / "missing.md").read_text()
    assert "| crashed | fewshot | R-AMT | Flowers102 | 16 | 3 |" in missing
    assert "| missing | fewshot | CoOp | Caltech101 | 16 | 3 | — |" in missing
    assert "| missing | base2new (new) | R-AMT | Flowers102 | 16 | 3 | — |" in missing


def test_default_out_dir_is_excluded_from_walk(tree, tmp_path):
    files = write_report(tree, published=False, plots=False)
    assert files["fewshot_table.md"].parent == tree / "report"
    again = collect_runs(tree, exclude=[tree / "report"])
    assert len(again) == len(collect_runs(tree))


def test_duplicate_runs_are_not_double_counted(tmp_path):
    """The same settings in two non-default folders: two labelled rows, neither standing in for the other."""
    cfg = make_cfg("CoOp", "caltech101", 16, 1)
    write_run(tmp_path / "a/seed1", cfg, result=90.0, json_result=90.0)
    write_run(tmp_path / "b/seed1", cfg, result=91.0)
    df = collect_runs(tmp_path)
    assert sorted(df["status"]) == ["ok", "ok"]
    assert dict(zip(df["method"], df["accuracy"])) == {"CoOp (EXP=a)": 90.0, "CoOp (EXP=b)": 91.0}


def test_selection_protocols_are_grouped_and_footnoted(tmp_path):
    """Default and official-protocol Tip-F runs of the same seeds: two rows, the official one marked ‡."""
    for s, acc in {1: 95.0, 2: 95.2, 3: 95.4}.items():
        write_run(
            tmp_path / "caltech101/TipAdapter/vit_b16_16shots/tipf" / f"seed{s}",
            make_cfg("TipAdapter", "caltech101", 16, s, finetune=True),
            result=acc,
        )
        write_run(
            tmp_path / "caltech101/TipAdapter/vit_b16_16shots/tipf_official" / f"seed{s}",
            make_cfg(
                "TipAdapter", "caltech101", 16, s, finetune=True, search_split="val", f_epoch="best_test"
            ),
            result=acc + 0.5,
        )
    df = collect_runs(tmp_path)
    assert set(df["status"]) == {"ok"}  # not taken for duplicates of each other
    assert dict(zip(df["selection"], df["uses_test"])) == {"default": False, "official": True}
    md = fewshot_table_md(df, with_published=True, shots=[16])
    ours = table_under(md, "## 16 shots")
    assert ours["Tip-Adapter-F"][0] == "95.20 ± 0.16 (3)"
    assert ours["Tip-Adapter-F {official}‡"][0] == "95.70 ± 0.16 (3)"
    rows = table_under(md, "### 16 shots: ours vs published")
    labels = list(rows)
    i = labels.index("Tip-Adapter (published)")
    assert labels[i + 1 : i + 5] == [
        "Tip-Adapter-F (ours)",
        "Tip-Adapter-F (Δ)",
        "Tip-Adapter-F {official}‡ (ours)",
        "Tip-Adapter-F {official}‡ (Δ)",
    ]
    assert "‡ **test data was used for selection**" in md and "{official}: Tip-Adapter's own" in md
    miss = missing_runs(df)
    assert miss.empty
