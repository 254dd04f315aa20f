"""Record the linear probe's C search from the authors' script (KaiyangZhou/CoOp ``lpclip/linear_probe.py``).

    PYTHONPATH=$PWD python benchmarks/faithfulness/record_linear_probe.py /path/to/CoOp

Fixed synthetic features (5 classes, 16 train and 4 val images per class: exactly the few-shot
sets, so their sampler keeps them all; 30 test images per class) are written in lpclip's npz
format, and their script runs unmodified on them (``--num_step 8 --num_run 1``) in a temporary
folder. The fixture holds the features and, for 16 shots, the grid's val accuracies, every
refinement round (its range and val accuracies), the chosen C and the test accuracy, parsed from
its output. tests/trainers/test_linear_probe.py runs the suite's search on the same features.
"""

from __future__ import annotations

import argparse
import ast
import os
import re
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _upstream import save_fixture, upstream_commit  # noqa: E402

N_CLASSES, DIM, SEED = 5, 16, 17
PER_SPLIT = {"train": 16, "val": 4, "test": 30}
NAME = "Synthetic"


def synthetic_features() -> dict:
    """Overlapping Gaussian classes, so the regularisation strength matters (this seed moves the
    refinement both ways)."""
    rng = np.random.default_rng(SEED)
    means = rng.normal(scale=0.45, size=(N_CLASSES, DIM))
    out = {}
    for split, n in PER_SPLIT.items():
        labels = np.repeat(np.arange(N_CLASSES), n)
        out[split] = (means[labels] + rng.normal(size=(len(labels), DIM)), labels)
    return out


def parse_last_block(stdout: str, num_shot: int) -> dict:
    """The grid accuracies and rounds printed for ``num_shot`` (the last block of their output)."""
    lines = stdout.splitlines()
    head = f", {num_shot} Shot, Round 0:"
    first_round = next(i for i, line in enumerate(lines) if head in line)
    grid_line = next(line for line in reversed(lines[:first_round]) if line.startswith("["))
    grid_acc = [float(v) for v in ast.literal_eval(re.sub(r"np\.float64\(([^)]*)\)", r"\1", grid_line))]
    rounds, i = [], first_round
    pat = re.compile(rf", {num_shot} Shot, Round (\d+): (\S+)/(\S+)$")
    while i < len(lines):
        m = pat.search(lines[i])
        if not m:
            i += 1
            continue
        left = float(lines[i + 1].split(":")[1])
        right = float(lines[i + 2].split(":")[1])
        test = float(lines[i + 3].split(":")[1])
        rounds.append(
            {
                "left": float(m.group(2)),
                "right": float(m.group(3)),
                "acc_left": left,
                "acc_right": right,
                "test": test,
            }
        )
        i += 4
    return {"grid_val_acc": grid_acc, "rounds": rounds}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("coop", help="the authors' CoOp checkout (KaiyangZhou/CoOp)")
    ap.add_argument("--out", default=None, help="fixture folder (default tests/fixtures/faithfulness)")
    args = ap.parse_args(argv)
    script = os.path.join(args.coop, "lpclip", "linear_probe.py")
    if not os.path.isfile(script):
        raise SystemExit(f"ERROR: {script} does not exist; pass the path of the CoOp checkout.")
    feats = synthetic_features()
    with tempfile.TemporaryDirectory() as work:
        for split, (x, y) in feats.items():
            os.makedirs(os.path.join(work, "feat", NAME), exist_ok=True)
            np.savez(os.path.join(work, "feat", NAME, split), feature_list=x, label_list=y)
        res = subprocess.run(
            [
                sys.executable,
                script,
                "--dataset",
                NAME,
                "--feature_dir",
                "feat",
                "--num_step",
                "8",
                "--num_run",
                "1",
            ],
            cwd=work,
            capture_output=True,
            text=True,
        )
        if res.returncode != 0:
            raise SystemExit(
                f"ERROR: their linear_probe.py failed:\n{res.stdout[-2000:]}\n{res.stderr[-2000:]}"
            )
        details = open(os.path.join(work, "report", "feat_s8r1_details.txt")).read().splitlines()
    last16 = [line for line in details if ", 16 shot," in line][-1]
    chosen_c = float(re.search(r"weight (\S+),", last16).group(1))
    test_acc = float(re.search(r"test_acc (\S+)$", last16).group(1))
    block = parse_last_block(res.stdout, 16)
    import sklearn

    save_fixture(
        "linear_probe",
        {
            **{f"{split}/features": x for split, (x, _) in feats.items()},
            **{f"{split}/labels": y for split, (_, y) in feats.items()},
        },
        {
            "upstream": "KaiyangZhou/CoOp lpclip/linear_probe.py (run unmodified on fixed features)",
            "upstream_commit": upstream_commit(args.coop),
            "sklearn_version": sklearn.__version__,
            "shots": 16,
            "val_shots": 4,
            "num_step": 8,
            "chosen_C": chosen_c,
            "test_accuracy": test_acc,
            **block,
        },
        args.out,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
