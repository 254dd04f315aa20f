"""TensorBoard scalars for every trainer, as in Dassl (``<output_dir>/tensorboard/``).

The trainer base calls four hooks: :meth:`TensorBoardLog.batch` (losses and lr per training
step), :meth:`TensorBoardLog.epoch` (lr and, for mask runs, the mask sparsity per epoch),
:meth:`TensorBoardLog.test` (evaluation metrics) and :meth:`TensorBoardLog.close`. The event
file is opened on the first scalar, so a run that writes nothing leaves no folder.
``TRAIN.TENSORBOARD False`` turns it off; without the ``tensorboard`` package one warning is
printed and training goes on. A resumed run first drops, from the event files already there,
every scalar the stopped attempt wrote after its saved epoch (:func:`prune_after_resume`), so
that no step appears twice.

    tensorboard --logdir output/digits/RAMT
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Mapping
from typing import Any, Optional

import torch

from ramt.masks import MaskSet

__all__ = ["TENSORBOARD_DIR", "TensorBoardLog", "mask_sparsity_scalars", "prune_after_resume"]

TENSORBOARD_DIR = "tensorboard"
_warned_missing = False


def _summary_writer_class():
    """``torch.utils.tensorboard.SummaryWriter``, or None (one warning) when tensorboard is missing."""
    global _warned_missing
    try:
        from torch.utils.tensorboard import SummaryWriter  # local import: optional package
    except ImportError as err:
        if not _warned_missing:
            _warned_missing = True
            warnings.warn(
                f"TensorBoard logging is off: the `tensorboard` package cannot be imported ({err}). "
                "Install it with `pip install tensorboard`, or set TRAIN.TENSORBOARD False to silence this.",
                RuntimeWarning,
                stacklevel=3,
            )
        return None
    return SummaryWriter


def _as_float(value: Any) -> Optional[float]:
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            return None
        value = value.detach().float().item()
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


@torch.no_grad()
def mask_sparsity_scalars(models: Mapping[str, Any]) -> dict[str, float]:
    """``{"<name>/sparsity": percent of mask entries <= tau}`` for every registered ``MaskSet``."""
    out = {}
    for name, model in models.items():
        if isinstance(model, MaskSet):
            off = int((model.flat.detach() <= model.threshold).sum())
            out[f"mask/{name}/sparsity"] = 100.0 * off / max(1, model.num_entries)
    return out


def _is_batch_tag(tag: str) -> bool:
    """Tags written per training step (:meth:`TensorBoardLog.batch`); all others count epochs."""
    return tag.startswith("train/") and tag != "train/lr_epoch"


def _stale(tag: str, step: int, epochs_done: int, num_batches: Optional[int]) -> bool:
    """True for a scalar that the run resumed after ``epochs_done`` epochs will write again."""
    if _is_batch_tag(tag):
        return num_batches is not None and step >= epochs_done * num_batches
    if tag.startswith("test/"):  # the final test runs after the last epoch only
        return step >= epochs_done
    return step > epochs_done


def prune_after_resume(log_dir: str, epochs_done: int, num_batches: Optional[int]) -> int:
    """Drop the scalars a stopped attempt wrote after epoch ``epochs_done``; return how many.

    Each event file is rewritten record by record (atomically) without those events.
    """
    if not os.path.isdir(log_dir):
        return 0
    from tensorboard.backend.event_processing.event_file_loader import RawEventFileLoader
    from tensorboard.compat.proto.event_pb2 import Event
    from tensorboard.summary.writer.record_writer import RecordWriter

    dropped = 0
    for name in sorted(os.listdir(log_dir)):
        path = os.path.join(log_dir, name)
        if "tfevents" not in name or not os.path.isfile(path):
            continue
        kept, n = [], 0
        for raw in RawEventFileLoader(path).Load():
            event = Event.FromString(raw)
            if event.HasField("summary") and any(
                _stale(v.tag, event.step, epochs_done, num_batches) for v in event.summary.value
            ):
                n += 1
                continue
            kept.append(raw)
        if n:
            tmp = f"{path}.tmp"
            with open(tmp, "wb") as f:
                writer = RecordWriter(f)
                for raw in kept:
                    writer.write(raw)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
            dropped += n
    return dropped


class TensorBoardLog:
    """A lazily opened ``SummaryWriter`` under ``<output_dir>/tensorboard`` (or a no-op when off)."""

    def __init__(self, output_dir: str, enabled: bool = True) -> None:
        self.log_dir = os.path.join(output_dir, TENSORBOARD_DIR)
        self.enabled = bool(enabled) and bool(output_dir)
        self._writer = None

    @classmethod
    def from_cfg(cls, cfg, output_dir: str) -> TensorBoardLog:
        return cls(output_dir, enabled=bool(cfg.TRAIN.TENSORBOARD))

    def _open(self, trainer=None):
        if self._writer is None and self.enabled:
            writer_cls = _summary_writer_class()
            if writer_cls is None:
                self.enabled = False
                return None
            epochs_done = int(getattr(trainer, "start_epoch", 0) or 0)
            if epochs_done > 0 and not getattr(trainer, "eval_only", False):  # resumed: no step twice
                prune_after_resume(self.log_dir, epochs_done, getattr(trainer, "num_batches", None))
            self._writer = writer_cls(log_dir=self.log_dir)
        return self._writer

    def scalars(self, values: Mapping[str, Any], step: int, prefix: str = "", trainer=None) -> None:
        """Write every finite scalar of ``values`` as ``<prefix><key>`` at ``step``."""
        if not self.enabled:
            return
        writer = self._open(trainer)
        if writer is None:
            return
        for key, value in values.items():
            v = _as_float(value)
            if v is not None:
                writer.add_scalar(f"{prefix}{key}", v, int(step))

    # ----------------------------------------------------------- trainer hooks
    def batch(self, trainer, loss_summary: Mapping[str, Any]) -> None:
        """Losses and lr of one training step (step = global iteration, as in Dassl)."""
        if not self.enabled:
            return
        step = trainer.epoch * trainer.num_batches + trainer.batch_idx
        self.scalars(dict(loss_summary, lr=trainer.get_current_lr()), step, prefix="train/", trainer=trainer)

    def epoch(self, trainer) -> None:
        """Per-epoch scalars (lr; mask sparsity of mask runs), step = epochs done."""
        if not self.enabled:
            return
        values = {"train/lr_epoch": trainer.get_current_lr()}
        values.update(mask_sparsity_scalars(trainer._models))
        self.scalars(values, trainer.epoch + 1, trainer=trainer)
        self.flush()

    def test(self, trainer, split: str, results: Mapping[str, Any]) -> None:
        """Evaluation metrics as ``<split>/<metric>``, step = epochs done."""
        if not self.enabled:
            return
        self.scalars(results, getattr(trainer, "epoch", 0) + 1, prefix=f"{split}/", trainer=trainer)
        self.flush()

    def flush(self) -> None:
        if self._writer is not None:
            self._writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
