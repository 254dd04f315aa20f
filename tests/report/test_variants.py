"""The report never lets one experiment stand in for another (issue 20, item 1).

Run folders are built by hand (fabricate.py): a default R-AMT run in its default folder and a
lambda variant in its own EXP folder, side by side, as the README's example makes them.
"""

from __future__ import annotations

import pandas as pd

from ramt.report import write_report
from ramt.report.collect import collect_runs
from ramt.report.tables import fewshot_summary, fewshot_table_md, missing_runs
from tests.report.fabricate import make_cfg, write_run
from tests.report.test_report import table_under

DEFAULT = {1: 16.0, 2: 16.2, 3: 16.13}
VARIANT = {1: 15.0, 2: 15.3, 3: 15.27}


def _variant_cfg(seed):
    cfg = make_cfg("RAMT", "caltech101", 16, seed)
    cfg["MASK"]["GDR_LAMBDA"] = 0.9
    return cfg


def _tree(out):
    for s, acc in DEFAULT.items():
        cfg = make_cfg("RAMT", "caltech101", 16, s)
        cfg["MASK"]["GDR_LAMBDA"] = -1.0
        write_run(out / "caltech101/RAMT/vit_b16_16shots" / f"seed{s}", cfg, result=acc, json_result=acc)
    for s, acc in VARIANT.items():
        write_run(out / "caltech101/RAMT/vit_b16_16shots_lam" / f"seed{s}", _variant_cfg(s), result=acc)
    return out


def test_default_is_the_headline_and_the_variant_its_own_row(tmp_path):
    df = collect_runs(_tree(tmp_path / "out"))
    assert set(df["status"]) == {"ok"}  # neither run is taken for a duplicate of the other
    default = df[df["variant"] == ""]
    assert set(default["method"]) == {"R-AMT"} and set(default["experiment"]) == {""}
    variant = df[df["variant"] != ""]
    assert set(variant["method"]) == {"R-AMT (MASK.GDR_LAMBDA=0.9)"}
    assert set(variant["experiment"]) == {"vit_b16_16shots_lam"}
    assert default["identity"].nunique() == 1 and variant["identity"].nunique() == 1
    assert set(default["identity"]) != set(variant["identity"])

    md = fewshot_table_md(df, with_published=True, shots=[16])
    ours = table_under(md, "## 16 shots")
    assert ours["R-AMT"][0] == "16.11 ± 0.08 (3)"  # the default runs' mean, not the variant's
    assert ours["R-AMT (MASK.GDR_LAMBDA=0.9)"][0] == "15.19 ± 0.13 (3)"
    compared = table_under(md, "### 16 shots: ours vs published")
    assert "R-AMT (ours)" in compared
    assert not any(label.startswith("R-AMT (MASK") for label in compared)  # never compared as R-AMT
    summ = fewshot_summary(df)
    row = summ[summ["method"] == "R-AMT (MASK.GDR_LAMBDA=0.9)"].iloc[0]
    assert pd.isna(row["published"]) and pd.isna(row["delta"])
    assert missing_runs(df).empty


def test_tidy_csv_carries_the_identity_columns(tmp_path):
    out = _tree(tmp_path / "out")
    files = write_report(out, out_dir=tmp_path / "rep", plots=False)
    tidy = pd.read_csv(files["results_tidy.csv"], keep_default_na=False)
    for column in ("identity", "experiment", "variant"):
        assert column in tidy.columns
    acc = {m: sorted(g["accuracy"]) for m, g in tidy.groupby("method")}
    assert acc["R-AMT"] == sorted(DEFAULT.values())
    assert acc["R-AMT (MASK.GDR_LAMBDA=0.9)"] == sorted(VARIANT.values())


def test_same_settings_in_an_exp_folder_are_labelled_by_the_folder(tmp_path):
    out = tmp_path / "out"
    for folder, acc in (("vit_b16_16shots", 90.0), ("vit_b16_16shots_again", 91.0)):
        write_run(
            out / "caltech101/RAMT" / folder / "seed1", make_cfg("RAMT", "caltech101", 16, 1), result=acc
        )
    df = collect_runs(out)
    assert dict(zip(df["method"], df["accuracy"])) == {
        "R-AMT": 90.0,
        "R-AMT (EXP=vit_b16_16shots_again)": 91.0,
    }


def test_same_identity_and_seed_twice_is_a_conflict_naming_both_folders(tmp_path):
    cfg = make_cfg("CoOp", "caltech101", 16, 1)
    rel = "caltech101/CoOp/vit_b16_16shots/nctx16_cscFalse_ctpend/seed1"
    a = write_run(tmp_path / "a" / rel, cfg, result=90.0)
    b = write_run(tmp_path / "b" / rel, cfg, result=91.0)
    df = collect_runs(tmp_path)
    assert list(df["status"]) == ["conflict", "conflict"]
    miss = missing_runs(df)
    assert sorted(miss[miss["kind"] == "conflict"]["path"]) == sorted([str(a), str(b)])
    md = fewshot_table_md(df)
    assert "2 in conflict" in md and str(a) in md and str(b) in md
    assert "No finished few-shot runs found." in md  # neither is averaged


def test_a_lone_run_outside_the_default_folder_is_not_the_headline(tmp_path):
    """Alone in its own EXP folder, a lambda variant is labelled by the folder (never compared with the
    published R-AMT); an AMT run there keeps its own label (it names what it is) and its comparison."""
    out = tmp_path / "out"
    write_run(out / "caltech101/RAMT/vit_b16_16shots_lam/seed1", _variant_cfg(1), result=15.0)
    amt = make_cfg("RAMT", "caltech101", 16, 1, gdr=False)
    write_run(out / "caltech101/RAMT/vit_b16_16shots_amt/seed1", amt, result=14.0)
    df = collect_runs(out)
    assert dict(zip(df["method"], df["accuracy"])) == {"AMT": 14.0, "R-AMT (EXP=vit_b16_16shots_lam)": 15.0}
    compared = table_under(
        fewshot_table_md(df, with_published=True, shots=[16]), "### 16 shots: ours vs published"
    )
    assert "AMT (ours)" in compared and not any(
        label.startswith("R-AMT") and "(ours)" in label for label in compared
    )
