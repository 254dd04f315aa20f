"""Record MaPLe's VPT (deep) on the tiny CLIP with fixed inputs: the suite's VPT faithfulness fixture.

    python benchmarks/faithfulness/record_vpt.py /work/ext/maple [--out tests/fixtures/faithfulness/vpt_deep.npz]

``/work/ext/maple`` is a checkout of github.com/muzairkhattak/multimodal-prompt-learning, outside
the project (the project ships the recorded numbers, never that code). Its ``trainers/vpt.py``
``CustomCLIP`` and its ``clip`` package run on the tiny CLIP's weights (OpenAI layout, written by
``ramt.clip.save_openai_checkpoint``); the fixture holds the inputs, the logits and one SGD step of
the prompts, with the upstream commit. Run on the CPU in fp32, so that both sides compute the
same function:

- Dassl is not installed: the few names ``trainers/vpt.py`` imports from it are stubbed here.
- ``Tensor.cuda`` is the identity (``CustomCLIP.forward`` moves the text features to CUDA).
- ``Tensor.half`` is the identity: upstream casts the prompts (and, in ``build_model``, the
  weights) to fp16 for its CUDA fp16 runs; the comparison is of the fp32 function.

The optimiser step is Dassl's SGD (momentum 0.9, weight decay 5e-4, no dampening, no Nesterov)
over the parameters upstream's ``VPT.build_model`` leaves trainable (names containing ``VPT``).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import types

import numpy as np
import torch
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_OUT = os.path.join(ROOT, "tests", "fixtures", "faithfulness", "vpt_deep.npz")

#: The recorded setting (the test rebuilds the suite's VPT trainer with the same values).
CLASSNAMES = ("class_a", "class_b", "class_c")
N_CTX, DEPTH, LR, SEED = 4, 2, 0.0025, 0


def stub_dassl() -> None:
    """The Dassl names ``trainers/vpt.py`` imports (none is used by ``CustomCLIP``)."""

    class Registry:
        def register(self, *a, **k):
            return lambda obj: obj

    modules = {
        "dassl": {},
        "dassl.engine": {"TRAINER_REGISTRY": Registry(), "TrainerX": object},
        "dassl.metrics": {"compute_accuracy": None},
        "dassl.utils": {"load_pretrained_weights": None, "load_checkpoint": None},
        "dassl.optim": {"build_optimizer": None, "build_lr_scheduler": None},
    }
    for name, attrs in modules.items():
        module = types.ModuleType(name)
        module.__dict__.update(attrs)
        sys.modules[name] = module


def lowres_images(seed: int = SEED) -> torch.Tensor:
    """Two 7x7 random patterns (stored in the fixture)."""
    return torch.randn(2, 3, 7, 7, generator=torch.Generator().manual_seed(seed))


def upsampled(low: torch.Tensor) -> torch.Tensor:
    """The 224-pixel images: each pattern cell repeated 32x32 times (exact)."""
    return low.repeat_interleave(32, dim=2).repeat_interleave(32, dim=3)


def initial_prompts(width: int, seed: int = SEED) -> torch.Tensor:
    """``[DEPTH, N_CTX, width]`` prompts, N(0, 0.02) as upstream initialises them."""
    return torch.randn(DEPTH, N_CTX, width, generator=torch.Generator().manual_seed(seed + 1)) * 0.02


def upstream_commit(path: str) -> str:
    out = subprocess.run(["git", "-C", path, "rev-parse", "HEAD"], capture_output=True, text=True)
    return out.stdout.strip() or "unknown"


def record(maple: str, out: str) -> dict:
    sys.path.insert(0, os.path.abspath(maple))
    stub_dassl()
    torch.Tensor.cuda = lambda self, *a, **k: self
    torch.Tensor.half = lambda self, *a, **k: self
    from ramt.clip import build_tiny_clip, save_openai_checkpoint

    with tempfile.TemporaryDirectory() as tmp:
        path = save_openai_checkpoint(build_tiny_clip(), os.path.join(tmp, "tiny.pt"))
        state_dict = torch.load(path, map_location="cpu")
    from clip import model as upstream_model  # MaPLe's clip package

    from trainers import vpt as upstream_vpt

    design = {
        "trainer": "VPT",
        "vision_depth": DEPTH,
        "vision_ctx": N_CTX,
        "language_depth": 0,
        "language_ctx": 0,
    }
    clip_model = upstream_model.build_model(state_dict, design).float()
    cfg = types.SimpleNamespace(
        INPUT=types.SimpleNamespace(SIZE=(224, 224)),
        TRAINER=types.SimpleNamespace(VPT=types.SimpleNamespace(N_CTX_VISION=N_CTX)),
    )
    model = upstream_vpt.CustomCLIP(cfg, list(CLASSNAMES), clip_model)
    for name, param in model.named_parameters():  # upstream VPT.build_model's rule
        param.requires_grad_("VPT" in name)
    visual = model.image_encoder
    prompts = [visual.VPT] + [visual.transformer.resblocks[i].VPT_shallow for i in range(1, DEPTH)]
    init = initial_prompts(prompts[0].shape[1])
    with torch.no_grad():
        for p, v in zip(prompts, init):
            p.copy_(v)
    low = lowres_images()
    images, labels = upsampled(low), torch.tensor([0, 2])
    with torch.no_grad():
        logits = model(images)
    optim = torch.optim.SGD(prompts, lr=LR, momentum=0.9, weight_decay=5e-4, dampening=0, nesterov=False)
    loss = model(images, labels, training=True)
    optim.zero_grad()
    loss.backward()
    optim.step()
    fixture = {
        "upstream_repo": np.array("muzairkhattak/multimodal-prompt-learning"),
        "upstream_commit": np.array(upstream_commit(maple)),
        "upstream_files": np.array("trainers/vpt.py clip/model.py"),
        "classnames": np.array(CLASSNAMES),
        "template": np.array("a photo of a {}."),
        "n_ctx": np.array(N_CTX),
        "depth": np.array(DEPTH),
        "lr": np.array(LR),
        "seed": np.array(SEED),
        "images_lowres": low.numpy(),
        "labels": labels.numpy(),
        "prompts_init": init.numpy(),
        "logits": logits.numpy(),
        "loss": np.array(float(loss.detach())),
        "loss_check": np.array(float(F.cross_entropy(logits, labels))),
        "prompts_step": torch.stack([p.detach() for p in prompts]).numpy(),
    }
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    np.savez_compressed(out, **fixture)
    return fixture


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("maple", help="path to a checkout of muzairkhattak/multimodal-prompt-learning")
    p.add_argument("--out", default=DEFAULT_OUT)
    args = p.parse_args(argv)
    if not os.path.isfile(os.path.join(args.maple, "trainers", "vpt.py")):
        print(
            f"ERROR: {args.maple} has no trainers/vpt.py; pass the path of a MaPLe checkout.", file=sys.stderr
        )
        return 2
    fx = record(args.maple, args.out)
    print(f"Wrote {args.out} (upstream {fx['upstream_commit']}; loss {float(fx['loss']):.6f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
