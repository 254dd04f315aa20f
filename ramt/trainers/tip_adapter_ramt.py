"""Tip-Adapter + R-AMT: Tip-Adapter(-F) on the R-AMT-masked image encoder (docs/BASELINES.md section 4).

Project reconstruction (no public code exists), two-stage only: the masks of the finished R-AMT
run named by ``MASK.SOURCE_RUN`` are folded into the image encoder, and Tip-Adapter runs unchanged
on it. Every image feature (cache keys, val/test features, Tip-F training features, the zero-shot
branch) comes from the folded encoder; the text classifier is unchanged; (beta, alpha) are searched
again on the masked val features. The class is the generic composition (``TRAINER.TIP.FINETUNE True``
for the -F host), kept under this module for its importers.
"""

from __future__ import annotations

from .compose import combination_trainer
from .tip_adapter import TipAdapter

TipAdapterRAMT = combination_trainer(TipAdapter)

__all__ = ["TipAdapterRAMT"]
