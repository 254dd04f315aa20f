"""Record CoCoOp's outputs from the authors' code (KaiyangZhou/CoOp ``trainers/cocoop.py``) on the tiny CLIP.

    PYTHONPATH=$PWD python benchmarks/faithfulness/record_cocoop.py /path/to/CoOp /path/to/Dassl.pytorch

Their ``CustomCLIP`` (prompt learner + meta-net, fp32) is built from the tiny CLIP's OpenAI-format
weights with a fixed seed; the fixture holds its initial prompt-learner parameters, the eval logits
of 3 fixed images, and one training step (batch size 1, their SGD from Dassl's ``build_optimizer``
with lr 0.002): the loss, the gradients and the updated parameters. tests/trainers/test_cocoop.py
compares the suite's CoCoOp with them.
"""

from __future__ import annotations

import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _upstream import (  # noqa: E402
    CLASSNAMES,
    IMAGE_SEED,
    fixed_images,
    fp16_keys,
    import_upstream,
    save_fixture,
    tiny_openai_state_dict,
    upstream_commit,
)

OPTIM = {"NAME": "sgd", "LR": 0.002}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("coop", help="the authors' CoOp checkout (KaiyangZhou/CoOp)")
    ap.add_argument("dassl", help="the authors' Dassl checkout (KaiyangZhou/Dassl.pytorch)")
    ap.add_argument("--out", default=None, help="fixture folder (default tests/fixtures/faithfulness)")
    args = ap.parse_args(argv)
    sd = tiny_openai_state_dict()
    import_upstream(args.coop, args.dassl)
    from clip import clip as their_clip
    from dassl.config import get_cfg_default
    from dassl.optim import build_optimizer

    from trainers import cocoop as theirs

    cfg = get_cfg_default()
    cfg.TRAINER.COCOOP = type(cfg)()
    cfg.TRAINER.COCOOP.N_CTX = 4
    cfg.TRAINER.COCOOP.CTX_INIT = "a photo of a"
    cfg.TRAINER.COCOOP.PREC = "fp32"
    cfg.INPUT.SIZE = (224, 224)
    cfg.OPTIM.NAME, cfg.OPTIM.LR = OPTIM["NAME"], OPTIM["LR"]

    clip_model = their_clip.build_model(sd)
    rounded = fp16_keys(clip_model)
    clip_model = clip_model.float().eval()
    torch.manual_seed(0)
    model = theirs.CustomCLIP(cfg, CLASSNAMES, clip_model)
    for name, p in model.named_parameters():
        p.requires_grad_("prompt_learner" in name)
    pl = model.prompt_learner
    init = {f"init/{k}": v.clone() for k, v in pl.named_parameters()}

    images = fixed_images(3)
    pl.eval()
    with torch.no_grad():
        logits = model(images)

    optim = build_optimizer(pl, cfg.OPTIM)
    pl.train()
    label = torch.tensor([1])
    loss = model(images[:1], label)
    optim.zero_grad()
    loss.backward()
    grads = {f"grad/{k}": p.grad.clone() for k, p in pl.named_parameters()}
    optim.step()
    after = {f"after/{k}": v.detach().clone() for k, v in pl.named_parameters()}

    save_fixture(
        "cocoop",
        {"logits": logits, "loss": loss.detach(), "label": label, **init, **grads, **after},
        {
            "upstream": "KaiyangZhou/CoOp trainers/cocoop.py (+ KaiyangZhou/Dassl.pytorch optimiser)",
            "upstream_commit": upstream_commit(args.coop),
            "dassl_commit": upstream_commit(args.dassl),
            "classnames": CLASSNAMES,
            "fp16_keys": rounded,
            "image_seed": IMAGE_SEED,
            "n_images": 3,
            "step_image": 0,
            "settings": {"N_CTX": 4, "CTX_INIT": "a photo of a", "PREC": "fp32", **OPTIM},
            "optimizer": {"momentum": cfg.OPTIM.MOMENTUM, "weight_decay": cfg.OPTIM.WEIGHT_DECAY},
        },
        args.out,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
