"""Tip-Adapter + R-AMT: Tip-Adapter(-F) on the R-AMT-masked image encoder (baselines spec section 4).

Project reconstruction (no public code exists), two-stage only: the masks of the finished R-AMT
run named by ``MASK.SOURCE_RUN`` are folded into the image encoder, and Tip-Adapter runs unchanged
on it. Every image feature (cache keys, val/test features, Tip-F training features, the zero-shot
branch) comes from the folded encoder; the text classifier is unchanged; (beta, alpha) are searched
again on the masked val features.
"""

from __future__ import annotations

import torch.nn as nn

from ramt.mask_source import folded_source_encoder
from ramt.registry import TRAINER_REGISTRY

from .coop_ramt import check_combo_mode
from .tip_adapter import TipAdapter


@TRAINER_REGISTRY.register()
class TipAdapterRAMT(TipAdapter):
    """Tip-Adapter on the folded R-AMT encoder (``TRAINER.TIP.FINETUNE True`` for the -F host)."""

    def check_cfg(self, cfg) -> None:
        super().check_cfg(cfg)
        check_combo_mode(cfg, allowed=("two_stage",))

    def build_image_encoder(self, clip_model: nn.Module) -> nn.Module:
        visual, self.mask_info = folded_source_encoder(self.cfg, clip_model, self.dm.dataset)
        self.encoder_id = f"ramt:{self.mask_info['mask_fingerprint']}"
        return visual

    def report_after_test(self, split: str) -> None:
        info = self.mask_info
        self.extra_results["mask_fingerprint"] = info["mask_fingerprint"]
        self.extra_results["mask_run"] = info["run_dir"]
        self.extra_results["combo_mode"] = "two_stage"
        print(f"Masks from {info['run_dir']} (fingerprint {info['mask_fingerprint']})")
