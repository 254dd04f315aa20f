"""Acceptance: R-AMT through scripts/ramt/main.sh on a local open_clip-format checkpoint (random weights,
GELU, non-CLIP mean/std): its preprocessing and activation are used, masks train, the folder names it."""

import json
import os
import subprocess
import sys

from tests.clip.test_backbones import write_open_clip_checkpoint


def test_ramt_script_on_an_open_clip_checkpoint(tmp_path, digits_root):
    path, _ = write_open_clip_checkpoint(tmp_path / "weights")
    out = tmp_path / "out"
    env = dict(os.environ, PYTHON=sys.executable, DATA=digits_root, OUTPUT=str(out), SEEDS="1")
    cmd = [
        "bash", "scripts/ramt/main.sh", "digits", "2",
        "MODEL.BACKBONE.NAME", "tiny-gelu", "MODEL.BACKBONE.PATH", path,
        "OPTIM.MAX_EPOCH", "2", "OPTIM.LR", "0.05", "DATALOADER.NUM_WORKERS", "0",
    ]  # fmt: skip
    res = subprocess.run(cmd, env=env, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    run = out / "digits" / "RAMT" / "tiny_gelu_random_init_2shots" / "seed1"
    assert sorted(os.listdir(out / "digits" / "RAMT")) == ["tiny_gelu_random_init_2shots"]
    log = (run / "log.txt").read_text()
    # the checkpoint's own preprocessing (open_clip_config.json), not CLIP's
    assert "+ normalization (mean=[0.5, 0.5, 0.5], std=[0.25, 0.25, 0.25])" in log
    assert "+ resize the smaller edge to 64" in log and "size 64x64, bilinear interpolation" in log
    # its activation (GELU, not OpenAI's QuickGELU) and its identity
    assert "Backbone: tiny-gelu (random-init.safetensors) (architecture" in log and "GELU)" in log
    results = json.loads((run / "results.json").read_text())
    assert results["backbone"] == "tiny-gelu (random-init.safetensors)"
    assert results["backbone_identity"]["activation"] == "GELU"
    # masks trained: a packed mask checkpoint with some weights masked out
    assert (run / "shared" / "model.pth.tar-2").is_file()
    assert results["sparsity"]["zeros"] > 0
