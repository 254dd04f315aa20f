"""Minimal training steps written for the benchmark only (not the project's trainers).

- :class:`LeanCoOp`: CoOp's step (generic learned context, frozen CLIP, SGD on the context)
  built from ``ramt.clip`` functions. Fast: bf16 autocast on CUDA over image *and* text towers,
  image features without autograd, text encoder truncated at the longest prompt's EOT token,
  fused attention. Reference: fp32, all 77 tokens, unfused (math) attention. Used for the
  ``coop*`` cases when ``trainers/coop.py`` cannot be built, and always as ``coop*_lean``.
- :class:`MiniTipF`: Tip-Adapter-F's step (frozen image encoder, trainable cache keys,
  ``exp(-beta (1 - affinity)) @ values`` plus zero-shot logits, AdamW with eps 1e-4).
"""

from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F
from torch import nn

from ramt.clip import encode_prompt_embeddings, normalize, tokenize


def _autocast(device: torch.device, on: bool):
    if on and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _math_attention(on: bool):
    if on:
        from torch.nn.attention import SDPBackend, sdpa_kernel

        return sdpa_kernel(SDPBackend.MATH)
    return contextlib.nullcontext()


class LeanCoOp:
    def __init__(self, clip_model: nn.Module, names: list[str], device, reference: bool, n_ctx: int = 16):
        self.device = torch.device(device)
        self.clip = clip_model.to(self.device)
        self.reference = reference
        prompts = [" ".join(["X"] * n_ctx) + " " + n + "." for n in names]
        self.tokens = tokenize(prompts).to(self.device)
        with torch.no_grad():
            emb = self.clip.token_embedding(self.tokens)
        self.prefix, self.suffix = emb[:, :1].clone(), emb[:, 1 + n_ctx :].clone()
        g = torch.Generator().manual_seed(0)
        width = emb.shape[-1]
        self.ctx = nn.Parameter((torch.randn(n_ctx, width, generator=g) * 0.02).to(self.device))
        self.optim = torch.optim.SGD([self.ctx], lr=0.002, momentum=0.9)
        self.logit_scale = self.clip.logit_scale.exp().item()

    def text_features(self) -> torch.Tensor:
        c = self.prefix.shape[0]
        prompts = torch.cat([self.prefix, self.ctx.unsqueeze(0).expand(c, -1, -1), self.suffix], dim=1)
        return encode_prompt_embeddings(self.clip, prompts, self.tokens, truncate=not self.reference)

    def step(self, images: torch.Tensor, labels: torch.Tensor) -> float:
        bf16 = not self.reference
        with _math_attention(self.reference):
            with torch.no_grad(), _autocast(self.device, bf16):
                img = self.clip.visual(images)
            with _autocast(self.device, bf16):
                txt = self.text_features()
            logits = self.logit_scale * normalize(img.float()) @ normalize(txt.float()).t()
            loss = F.cross_entropy(logits, labels)
            self.optim.zero_grad(set_to_none=True)
            loss.backward()
        self.optim.step()
        return loss


class MiniTipF:
    def __init__(self, clip_model: nn.Module, num_classes: int, device, reference: bool, shots: int = 16):
        self.device = torch.device(device)
        self.clip = clip_model.to(self.device)
        self.reference = reference
        dim = self.clip.text_projection.shape[1]
        g = torch.Generator().manual_seed(0)
        keys = F.normalize(torch.randn(num_classes * shots, dim, generator=g), dim=-1)
        self.values = F.one_hot(torch.arange(num_classes).repeat_interleave(shots), num_classes).float()
        self.values = self.values.to(self.device)
        self.text = F.normalize(torch.randn(num_classes, dim, generator=g), dim=-1).to(self.device)
        self.adapter = nn.Linear(dim, keys.shape[0], bias=False).to(self.device)
        with torch.no_grad():
            self.adapter.weight.copy_(keys)
        fused = {"fused": True} if self.device.type == "cuda" and not reference else {}
        self.optim = torch.optim.AdamW(self.adapter.parameters(), lr=1e-3, eps=1e-4, **fused)
        self.alpha, self.beta = 1.0, 1.0

    def step(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        with _math_attention(self.reference):
            with torch.no_grad(), _autocast(self.device, not self.reference):
                feats = self.clip.visual(images)
        f = normalize(feats.float())
        affinity = self.adapter(f)
        cache = torch.exp(-self.beta * (1 - affinity)) @ self.values
        logits = 100.0 * f @ self.text.t() + self.alpha * cache
        loss = F.cross_entropy(logits, labels)
        self.optim.zero_grad(set_to_none=True)
        loss.backward()
        self.optim.step()
        return loss
