"""Small open_clip models for the mask tests (built directly, no downloads)."""

from __future__ import annotations

import open_clip
import torch
from open_clip.modified_resnet import ModifiedResNet
from open_clip.transformer import QuickGELU, VisionTransformer

VITB16_VISUAL_PARAMS = 86_192_640


def tiny_clip(seed: int = 0, frozen: bool = True) -> open_clip.model.CLIP:
    """A 2-block ViT/32 CLIP (width 64) in eval mode, fp32."""
    torch.manual_seed(seed)
    model = open_clip.model.CLIP(
        embed_dim=32,
        vision_cfg=dict(image_size=224, patch_size=32, width=64, layers=2, head_width=16),
        text_cfg=dict(context_length=77, vocab_size=49408, width=64, heads=4, layers=2),
        quick_gelu=True,
    ).eval()
    if frozen:
        for p in model.parameters():
            p.requires_grad_(False)
    return model


def vitb16_visual_meta() -> VisionTransformer:
    """The ViT-B/16 image encoder with OpenAI's dims, on the meta device (shapes only)."""
    with torch.device("meta"):
        return VisionTransformer(
            image_size=224,
            patch_size=16,
            width=768,
            layers=12,
            heads=12,
            mlp_ratio=4.0,
            output_dim=512,
            act_layer=QuickGELU,
        )


def tiny_resnet() -> ModifiedResNet:
    return ModifiedResNet(layers=[1, 1, 1, 1], output_dim=32, heads=2, image_size=64, width=16)


def logits(features: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
    """Zero-shot CLIP logits with exp(logit_scale) = 100."""
    return 100.0 * torch.nn.functional.normalize(features, dim=-1) @ text.t()
