"""Bit packing of binary masks: 8 entries per byte, row-major, MSB first, zero-padded.

Exactly ``numpy.packbits`` with its default bit order (docs/METHOD_SPEC.md section 9). The bottom
of ``ramt.masks``: the mask fingerprint (``maskset``) and the checkpoints (``packing``) use it.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["pack_bits", "packed_nbytes", "unpack_bits"]


def packed_nbytes(numel: int) -> int:
    """Bytes used by ``numel`` packed bits."""
    return (int(numel) + 7) // 8


def _to_bool_numpy(binary) -> np.ndarray:
    if isinstance(binary, torch.Tensor):
        return binary.detach().reshape(-1).to(device="cpu", dtype=torch.bool).numpy()
    return np.asarray(binary, dtype=bool).reshape(-1)


def pack_bits(binary) -> np.ndarray:
    """Pack a binary tensor (bool or 0/1) into uint8, row-major, MSB first, zero-padded."""
    return np.packbits(_to_bool_numpy(binary))


def unpack_bits(packed, shape) -> torch.Tensor:
    """Inverse of :func:`pack_bits`: a bool tensor of ``shape`` (CPU)."""
    if isinstance(packed, torch.Tensor):
        packed = packed.detach().cpu().numpy()
    elif isinstance(packed, (bytes, bytearray, memoryview)):
        packed = np.frombuffer(packed, dtype=np.uint8)
    packed = np.asarray(packed, dtype=np.uint8).reshape(-1)
    shape = tuple(int(s) for s in shape)
    n = int(np.prod(shape, dtype=np.int64))
    if packed.size != packed_nbytes(n):
        raise ValueError(f"Packed mask has {packed.size} bytes; shape {shape} needs {packed_nbytes(n)}.")
    bits = np.unpackbits(packed, count=n).astype(bool)
    return torch.from_numpy(bits).view(shape)
