"""Record ProGrad's outputs from the authors' code (BeierZhu/Prompt-align) on the tiny CLIP.

    PYTHONPATH=$PWD python benchmarks/faithfulness/record_prograd.py /path/to/Prompt-align

Their ``CustomCLIP`` (CoOp with ``CTX_INIT True``: zeros + the Caltech101 template's words, 16
tokens), their zero-shot ``CLIP``, ``ProGradLoss(T=1)`` and Dassl.ProGrad's
``prograd_backward_and_update`` (lambda 1) run on the tiny CLIP's OpenAI-format weights with fixed
images. The labels are the labelling whose CE gradient conflicts most with the KL gradient, so
the projection is exercised. The fixture holds the initial context, the student and
zero-shot logits, both losses, the projected gradient and the context after one SGD step (lr 0.002).
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

N_IMAGES = 4
LAMBDA = 1.0
DATASET = "Caltech101"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("prompt_align", help="the authors' checkout (BeierZhu/Prompt-align)")
    ap.add_argument("--out", default=None, help="fixture folder (default tests/fixtures/faithfulness)")
    args = ap.parse_args(argv)
    sd = tiny_openai_state_dict()
    root = args.prompt_align
    import_upstream(os.path.join(root, "ProGrad.public"), os.path.join(root, "Dassl.ProGrad.pytorch"))
    from clip import clip as their_clip
    from dassl.config import get_cfg_default
    from dassl.engine.trainer import TrainerBase
    from dassl.optim import build_optimizer

    from trainers import prograd as theirs

    theirs.load_clip_to_cpu = lambda cfg: their_clip.build_model(dict(sd))  # no download: the tiny CLIP
    cfg = get_cfg_default()
    cfg.TRAINER.COOP = type(cfg)()
    cfg.TRAINER.COOP.N_CTX = 16
    cfg.TRAINER.COOP.CTX_INIT = True
    cfg.TRAINER.COOP.CSC = False
    cfg.TRAINER.COOP.CLASS_TOKEN_POSITION = "end"
    cfg.TRAINER.COOP.PREC = "fp32"
    cfg.DATASET.NAME = DATASET
    cfg.INPUT.SIZE = (224, 224)
    cfg.OPTIM.NAME, cfg.OPTIM.LR = "sgd", 0.002

    clip_model = theirs.load_clip_to_cpu(cfg)
    rounded = fp16_keys(clip_model)
    clip_model.float()
    zs_clip = theirs.CLIP(cfg, CLASSNAMES)
    model = theirs.CustomCLIP(cfg, CLASSNAMES, clip_model)
    for name, p in model.named_parameters():
        p.requires_grad_("prompt_learner" in name)
    pl = model.prompt_learner
    init_ctx = pl.ctx.detach().clone()

    images = fixed_images(N_IMAGES)
    with torch.no_grad():
        zs_logits = zs_clip(images)
    criterion = theirs.ProGradLoss(T=1.0)
    output = model(images)

    def raw_cosine(labels):
        xe, kl = criterion(output, zs_logits.detach(), labels)
        g_ce, g_kl = (torch.autograd.grad(loss, [pl.ctx], retain_graph=True)[0] for loss in (xe, kl))
        return torch.nn.functional.cosine_similarity(g_ce.flatten(), g_kl.flatten(), dim=0).item()

    # the labelling of the fixed images whose CE gradient conflicts most with the KL gradient
    candidates = torch.cartesian_prod(*[torch.arange(len(CLASSNAMES))] * N_IMAGES)
    cosines = [raw_cosine(c) for c in candidates]
    labels = candidates[int(torch.tensor(cosines).argmin())]
    cosine = torch.tensor(min(cosines))
    assert cosine < 0, "no conflicting labelling: the projection would not be exercised"
    xe_loss, kl_loss = criterion(output, zs_logits.detach(), labels)

    trainer = TrainerBase()
    optim = build_optimizer(pl, cfg.OPTIM)
    trainer.register_model("prompt_learner", pl, optim, None)
    trainer.prograd_backward_and_update(xe_loss, kl_loss, LAMBDA)

    save_fixture(
        "prograd",
        {
            "init/ctx": init_ctx,
            "logits": output.detach(),
            "zs_logits": zs_logits,
            "labels": labels,
            "xe_loss": xe_loss.detach(),
            "kl_loss": kl_loss.detach(),
            "grad/ctx": pl.ctx.grad,
            "after/ctx": pl.ctx.detach(),
            "raw_cosine": cosine.detach(),
        },
        {
            "upstream": "BeierZhu/Prompt-align ProGrad.public/trainers/prograd.py + Dassl.ProGrad.pytorch",
            "upstream_commit": upstream_commit(root),
            "classnames": CLASSNAMES,
            "dataset": DATASET,
            "fp16_keys": rounded,
            "image_seed": IMAGE_SEED,
            "n_images": N_IMAGES,
            "settings": {
                "N_CTX": 16,
                "CTX_INIT": True,
                "LAMBDA": LAMBDA,
                "T": 1.0,
                "PREC": "fp32",
                "LR": 0.002,
            },
            "optimizer": {"momentum": cfg.OPTIM.MOMENTUM, "weight_decay": cfg.OPTIM.WEIGHT_DECAY},
        },
        args.out,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
