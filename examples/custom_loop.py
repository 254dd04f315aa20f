"""R-AMT in your own training loop, through the library API (``ramt.api``).

Trains binary masks on the image encoder of the CPU-sized ``tiny`` CLIP for a few steps on
scikit-learn's handwritten digits (held in memory), with the GDR-filtered mask gradient, then
folds the masks into a plain CLIP and saves them. Runs on a CPU in seconds:

    python examples/custom_loop.py --steps 20 --out masks.safetensors

Swap ``load_clip("tiny")`` for any open_clip ViT (e.g. ``open_clip.create_model("ViT-B-16",
pretrained="laion2b_s34b_b88k")``) and the data for yours; the loop stays the same.
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F

from ramt.api import attach_masks, soft_target_ce
from ramt.clip import build_text_classifier, load_clip, normalize

CLASSNAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
MEAN = torch.tensor([0.48145466, 0.4578275, 0.40821073]).view(1, 3, 1, 1)
STD = torch.tensor([0.26862954, 0.26130258, 0.27577711]).view(1, 3, 1, 1)


def digit_batches(batch_size: int, size: int, seed: int = 0):
    """Endless batches of (images, labels): 8x8 digits scaled to ``size`` and CLIP-normalised."""
    from sklearn.datasets import load_digits

    data = load_digits()
    images = torch.tensor(data.images, dtype=torch.float32).unsqueeze(1) / 16.0
    labels = torch.tensor(data.target)
    gen = torch.Generator().manual_seed(seed)
    while True:
        idx = torch.randint(len(labels), (batch_size,), generator=gen)
        x = F.interpolate(images[idx], size=(size, size), mode="bilinear", align_corners=False).repeat(
            1, 3, 1, 1
        )
        yield (x - MEAN) / STD, labels[idx]


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--lam", type=float, default=1.0, help="GDR lambda (0 = plain gradient)")
    p.add_argument("--out", default="", help="save the masks here (.safetensors)")
    args = p.parse_args(argv)
    torch.manual_seed(0)

    model = load_clip("tiny")  # an open_clip CLIP: fp32, eval mode, frozen
    text = build_text_classifier(model, list(CLASSNAMES), ["a photo of the number {}."])
    scale = model.logit_scale.exp().item()

    def head(features):
        return scale * normalize(features.float()) @ text.t()

    masks = attach_masks(model, layers=("attn", "conv1"))  # R-AMT's default selection
    opt = torch.optim.Adam(masks.parameters(), lr=args.lr)
    batches = digit_batches(args.batch_size, model.visual.image_size[0])
    for step in range(args.steps):
        images, labels = next(batches)
        logits = head(masks.encode_image(images))  # the masked encoder (student)
        with torch.no_grad():
            logits0 = head(masks.encode_image_unmasked(images))  # zero-shot CLIP (teacher)
        loss = F.cross_entropy(logits, labels) + 1e-4 * masks.norm_loss()
        opt.zero_grad()
        masks.backward(loss, reference=soft_target_ce(logits, logits0), lam=args.lam)  # GDR
        opt.step()
        print(
            f"step {step + 1}/{args.steps} loss {loss.item():.4f} masked {masks.sparsity()['percent']:.2f}%"
        )

    tuned = masks.fold()  # a plain open_clip CLIP with the masks folded in
    images, _ = next(batches)
    with torch.no_grad():
        same = torch.allclose(tuned.encode_image(images), masks.encode_image(images), atol=1e-5)
    print(f"folded model == masked forward: {same}")
    if args.out:
        print(f"masks saved to {masks.save(args.out, backbone='tiny')}")
    return {"sparsity": masks.sparsity(), "folded_matches": same, "fingerprint": masks.fingerprint()}


if __name__ == "__main__":
    main()
