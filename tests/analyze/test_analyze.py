"""ramt.analyze on hand-built masks with known zeros, on mask files, and on the quick-start output."""

from __future__ import annotations

import json
import os

import pandas as pd
import pytest
import torch

from ramt.analyze import analyze, main, pair_relation
from ramt.analyze.stats import head_rows, jaccard_counts, packed_zero_set, split_parts, tensor_rows
from ramt.clip import build_tiny_clip
from ramt.engine.checkpoint import save_checkpoint
from ramt.masks import MaskSet, mask_fingerprint, pack_masks, write_masks_file

W, HW = 128, 64  # tiny: width 128, head width 64 -> 2 heads per block


@pytest.fixture(scope="module")
def visual():
    return build_tiny_clip().visual


def hand_built(visual, zeros: dict[str, list[tuple]]) -> MaskSet:
    """All-ones masks over attn + MLP + conv1 with the given entries (index tuples) set to 0."""
    ms = MaskSet.from_module(visual, layers=("all",))
    with torch.no_grad():
        ms.flat.fill_(1.0)
        for name, entries in zeros.items():
            view = ms.view(name)
            for idx in entries:
                view[idx] = 0.0
    return ms


def write_run(run_dir, ms: MaskSet, dataset="Digits", shots=4, seed=1, method="R-AMT"):
    """A finished-looking R-AMT run folder: packed checkpoint + pointer, mask_run.json, results.json."""
    os.makedirs(run_dir, exist_ok=True)
    save_checkpoint(
        {"state_dict": pack_masks(ms, backbone="tiny", epoch=3), "epoch": 3}, os.path.join(run_dir, "shared")
    )
    info = {"trainer": "RAMT", "dataset": dataset, "shots": shots, "seed": seed, "backbone": "tiny",
            "layers": list(ms.layers), "mask_fingerprint": mask_fingerprint(ms)}  # fmt: skip
    with open(os.path.join(run_dir, "mask_run.json"), "w") as f:
        json.dump(info, f)
    with open(os.path.join(run_dir, "results.json"), "w") as f:
        json.dump({"method": method, "dataset": dataset, "shots": shots, "seed": seed, "backbone": "tiny"}, f)


IN0, IN1 = "transformer.resblocks.0.attn.in_proj_weight", "transformer.resblocks.1.attn.in_proj_weight"
OUT0 = "transformer.resblocks.0.attn.out_proj.weight"
FC1 = "transformer.resblocks.1.mlp.c_fc.weight"
# Run A: 6 zeros in q of block 0 head 1 (rows 64..127 of the in-projection), 3 in k of block 1 head 0
# (rows 128..191), 2 in v of block 1 head 1 (rows 256+64..), 4 in out_proj of block 0 head 1 (input
# columns 64..127), 5 in conv1, 7 in block 1's MLP c_fc.
ZEROS_A = {
    IN0: [(64 + i, i) for i in range(6)],
    IN1: [(128 + i, 3) for i in range(3)] + [(256 + 64 + i, 0) for i in range(2)],
    OUT0: [(i, 64 + i) for i in range(4)],
    "conv1.weight": [(i, 0, 0, 0) for i in range(5)],
    FC1: [(i, 1) for i in range(7)],
}


def test_stats_on_hand_built_mask(visual):
    ms = hand_built(visual, ZEROS_A)
    masks = {n: b.numpy() for n, b in ms.binary().items()}
    t = pd.DataFrame(tensor_rows(masks)).set_index(["block", "part"])
    assert t.loc[(0, "q"), "zeros"] == 6 and t.loc[(0, "q"), "total"] == W * W
    assert t.loc[(0, "q"), "masked_pct"] == pytest.approx(100 * 6 / (W * W))
    assert t.loc[(0, "k"), "zeros"] == 0 and t.loc[(0, "v"), "zeros"] == 0
    assert t.loc[(1, "k"), "zeros"] == 3 and t.loc[(1, "v"), "zeros"] == 2 and t.loc[(1, "q"), "zeros"] == 0
    assert t.loc[(0, "out_proj"), "zeros"] == 4 and t.loc[(1, "out_proj"), "zeros"] == 0
    assert t.loc[(-1, "conv1"), "zeros"] == 5 and t.loc[(-1, "conv1"), "total"] == W * 3 * 32 * 32
    assert t.loc[(1, "mlp_fc"), "zeros"] == 7 and t.loc[(1, "mlp_fc"), "total"] == 4 * W * W
    assert t.loc[(0, "mlp_proj"), "zeros"] == 0
    assert int(t["zeros"].sum()) == 6 + 3 + 2 + 4 + 5 + 7
    h = pd.DataFrame(head_rows(masks, HW)).set_index(["block", "part", "head"])["zeros"]
    assert h[(0, "q", 1)] == 6 and h[(0, "q", 0)] == 0
    assert h[(1, "k", 0)] == 3 and h[(1, "k", 1)] == 0
    assert h[(1, "v", 1)] == 2 and h[(1, "v", 0)] == 0
    assert h[(0, "out_proj", 1)] == 4 and h[(0, "out_proj", 0)] == 0
    assert len(h) == 2 * 4 * 2  # blocks x (q, k, v, out_proj) x heads
    with pytest.raises(ValueError, match="head width"):
        head_rows(masks, 48)
    with pytest.raises(ValueError):
        split_parts("transformer.resblocks.0.ln_1.weight", masks[IN0])


def test_jaccard_of_zero_sets(visual):
    a = {n: b.numpy() for n, b in hand_built(visual, {IN0: [(0, 0), (0, 1), (1, 1)]}).binary().items()}
    b = {
        n: b.numpy() for n, b in hand_built(visual, {IN0: [(0, 1), (1, 1)], OUT0: [(5, 5)]}).binary().items()
    }
    inter, union, jac = jaccard_counts(packed_zero_set(a), packed_zero_set(b))
    assert (inter, union, jac) == (2, 4, 0.5)
    none = {n: v | True for n, v in a.items()}
    assert jaccard_counts(packed_zero_set(none), packed_zero_set(none))[1] == 0
    assert pair_relation({"dataset": "D", "seed": 1}, {"dataset": "D", "seed": 2}) == "seeds"
    assert pair_relation({"dataset": "D", "shots": 1}, {"dataset": "E", "shots": 1}) == "datasets"
    assert pair_relation({"dataset": "D", "shots": 1}, {"dataset": "E", "shots": 2}) == "other"


def test_cli_on_a_tree_of_runs_and_mask_files(tmp_path, visual, capsys):
    tree = tmp_path / "output"
    ms_a = hand_built(visual, ZEROS_A)
    # seed 2 shares the q zeros of A and adds 2 others; 2 shots shares nothing; another dataset shares conv1.
    ms_s2 = hand_built(visual, {IN0: ZEROS_A[IN0], OUT0: [(9, 9), (10, 10)]})
    ms_k2 = hand_built(visual, {FC1: [(100, 100)]})
    ms_d = hand_built(visual, {"conv1.weight": ZEROS_A["conv1.weight"]})
    write_run(tree / "digits/RAMT/exp_4shots/seed1", ms_a)
    write_run(tree / "digits/RAMT/exp_4shots/seed2", ms_s2, seed=2)
    write_run(tree / "digits/RAMT/exp_2shots/seed1", ms_k2, shots=2)
    write_run(tree / "other/RAMT/exp_4shots/seed1", ms_d, dataset="Other")
    (tree / "digits/RAMT/exp_4shots/seed3").mkdir(parents=True)  # an unfinished run: no masks, skipped
    mask_file = tmp_path / "files" / "a.safetensors"
    write_masks_file(str(mask_file), pack_masks(ms_a, backbone="tiny"), mask_fingerprint(ms_a),
                     run_info={"dataset": "Digits", "shots": 4, "seed": 1, "method": "R-AMT"})  # fmt: skip
    out = tmp_path / "analysis"
    assert main([str(tree), str(mask_file), "--out", str(out)]) == 0
    assert "Mask analysis of 5 run(s)" in capsys.readouterr().out
    for stem in ("masked_ratio", "head_ratio", "jaccard_runs", "jaccard_groups"):
        assert (out / f"{stem}.png").stat().st_size > 10_000 and (out / f"{stem}.pdf").is_file()
    runs = pd.read_csv(out / "runs.csv").set_index("label")
    assert list(runs["zeros"]) == [
        1,
        27,
        27,
        8,
        5,
    ]  # by dataset, shots, seed: 2shots, (file, run) 4shots s1, s2, other
    tensors = pd.read_csv(out / "masked_ratio_tensors.csv")
    from_file = tensors[tensors["label"] == "files/a.safetensors"].drop(columns=["label", "group"])
    from_run = tensors[tensors["label"] == "output/digits/RAMT/exp_4shots/seed1"].drop(
        columns=["label", "group"]
    )
    assert from_file.reset_index(drop=True).equals(from_run.reset_index(drop=True))
    pairs = pd.read_csv(out / "jaccard_pairs.csv")
    lookup = {frozenset((r.run_a, r.run_b)): r for r in pairs.itertuples()}
    s1, s2 = "output/digits/RAMT/exp_4shots/seed1", "output/digits/RAMT/exp_4shots/seed2"
    k2, d = "output/digits/RAMT/exp_2shots/seed1", "output/other/RAMT/exp_4shots/seed1"
    r = lookup[frozenset((s1, s2))]
    assert (r.relation, r.intersection, r.union) == ("seeds", 6, 27 + 2) and r.jaccard == pytest.approx(
        6 / 29
    )
    r = lookup[frozenset((s1, k2))]
    assert (r.relation, r.intersection, r.union, r.jaccard) == ("shots", 0, 28, 0.0)
    r = lookup[frozenset((s1, d))]
    assert (r.relation, r.intersection, r.union) == ("datasets", 5, 27) and r.jaccard == pytest.approx(
        5 / 27, abs=1e-6
    )
    assert lookup[frozenset((s1, "files/a.safetensors"))].jaccard == 1.0
    summary = pd.read_csv(out / "jaccard_summary.csv").set_index("relation")
    assert summary.loc["seeds", "pairs"] == 2 and summary.loc["seeds", "mean"] == pytest.approx(
        6 / 29, abs=1e-6
    )
    matrix = pd.read_csv(out / "jaccard_matrix.csv", index_col=0)
    assert matrix.loc[s1, s2] == pytest.approx(6 / 29, abs=1e-6) and matrix.loc[s2, s1] == pytest.approx(
        6 / 29, abs=1e-6
    )
    # A second run into the same folder replaces its own files; a foreign folder is refused.
    assert main([str(tree), "--out", str(out)]) == 0
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    assert main([str(tree), "--out", str(foreign)]) == 2
    assert (foreign / "notes.txt").read_text() == "mine"
    assert main([str(tmp_path / "nothing_here")]) == 2


def test_quick_start_output(quick_ramt_run, tmp_path):
    files = analyze([os.path.join(quick_ramt_run.output, "digits")], out=str(tmp_path / "qa"))
    runs = pd.read_csv(files["runs.csv"])
    assert len(runs) == 1 and runs.loc[0, "backbone"] == "tiny" and runs.loc[0, "dataset"] == "Digits"
    sparsity = json.load(open(os.path.join(quick_ramt_run.run_dir, "sparsity.json")))
    assert runs.loc[0, "zeros"] == sparsity["zeros"] and runs.loc[0, "total"] == sparsity["total"]
    tensors = pd.read_csv(files["masked_ratio_tensors.csv"])
    assert set(tensors["part"]) == {"conv1", "q", "k", "v", "out_proj"}  # the default layers: attn + conv1
    assert os.path.isfile(files["masked_ratio.png"]) and os.path.isfile(files["head_ratio.png"])
