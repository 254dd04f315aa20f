"""ramt.api: the library entry point computes what the suite's pieces compute; the example runs."""

from __future__ import annotations

import importlib.util
import os

import torch
import torch.nn.functional as F

from ramt.api import attach_masks, soft_target_ce
from ramt.clip import load_clip
from ramt.gdr import gdr_mask_gradient
from ramt.masks import masked_forward, read_masks_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _random_binary(masks, seed=0):
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        masks.mask_set.flat.copy_((torch.rand(masks.mask_set.num_entries, generator=gen) > 0.3).float())


def test_forward_gradient_and_fold_match_the_suite():
    model = load_clip("tiny")
    masks = attach_masks(model)
    assert masks.mask_set.layers == ("conv1", "attn") and masks.sparsity()["zeros"] == 0
    _random_binary(masks)
    images = torch.randn(3, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    labels = torch.tensor([0, 1, 2])
    feats = masks.encode_image(images)
    torch.testing.assert_close(feats, masked_forward(model.visual, masks.mask_set, images))
    assert not torch.allclose(feats, masks.encode_image_unmasked(images), atol=1e-3)
    # The folded copy's plain forward is the masked forward; the original model is untouched.
    before = model.visual.conv1.weight.clone()
    torch.testing.assert_close(masks.fold().encode_image(images), feats, rtol=1e-5, atol=1e-5)
    assert torch.equal(model.visual.conv1.weight, before)

    def losses():
        z = masks.encode_image(images)[:, :3]
        z0 = masks.encode_image_unmasked(images)[:, :3]
        return F.cross_entropy(z, labels) + 1e-4 * masks.norm_loss(), soft_target_ce(z, z0)

    task, ref = losses()
    got = masks.mask_gradient(task, ref, lam=0.7, generator=torch.Generator().manual_seed(5))
    task, ref = losses()
    want = gdr_mask_gradient(task, ref, masks.mask_set.flat, 0.7, generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(got, want)
    task, _ = losses()
    masks.backward(task)  # no reference: the plain gradient (AMT)
    task, _ = losses()
    (plain,) = torch.autograd.grad(task, masks.mask_set.flat)
    torch.testing.assert_close(masks.mask_set.flat.grad, plain)
    assert not torch.equal(got, plain)


def test_attach_to_the_visual_module_and_save_load(tmp_path):
    model = load_clip("tiny")
    masks = attach_masks(model.visual, layers=("all",))
    assert masks.mask_set.layers == ("conv1", "attn", "mlp")
    _random_binary(masks, seed=3)
    path = masks.save(str(tmp_path / "m.safetensors"), backbone="tiny")
    _, header = read_masks_file(path)
    assert header["fingerprint"] == masks.fingerprint() and header["head_width"] == 64
    other = attach_masks(load_clip("tiny").visual, layers=("all",)).load(path)
    assert other.fingerprint() == masks.fingerprint()
    assert other.sparsity() == masks.sparsity() and 0 < masks.sparsity()["percent"] < 100


def test_custom_loop_example_runs(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location(
        "custom_loop", os.path.join(ROOT, "examples", "custom_loop.py")
    )
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    out = tmp_path / "masks.safetensors"
    res = example.main(["--steps", "3", "--batch-size", "4", "--lr", "0.006", "--out", str(out)])
    text = capsys.readouterr().out
    assert "step 3/3" in text and res["folded_matches"] is True
    assert res["sparsity"]["zeros"] > 0  # the masks did train
    assert read_masks_file(str(out))[1]["fingerprint"] == res["fingerprint"]
