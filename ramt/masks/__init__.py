"""The one mask mechanism shared by every R-AMT trainer.

Selection of the masked image-encoder tensors, the flat fp32 mask store with a
straight-through binariser, the functional masked forward, folding, bit-packed
checkpoints and the sparsity report (docs/METHOD_SPEC.md sections 2, 3, 9).
"""

from .files import MASKS_FILE_SUFFIX, is_masks_file, read_masks_file, write_masks_file
from .maskset import (
    MaskedWeight,
    MaskSet,
    fold_masks_,
    folded_copy,
    mask_fingerprint,
    masked_forward,
    masked_weights,
)
from .packing import (
    load_checked_masks_,
    load_official_masks_,
    load_packed_masks_,
    pack_bits,
    pack_masks,
    packed_nbytes,
    unpack_bits,
    unpack_masks,
)
from .selection import (
    VALID_TOKENS,
    UnsupportedBackboneError,
    normalize_layers,
    official_mask_key,
    param_name_from_official_key,
    select_mask_targets,
)
from .sparsity import format_sparsity, sparsity_report

__all__ = [
    "MASKS_FILE_SUFFIX",
    "is_masks_file",
    "read_masks_file",
    "write_masks_file",
    "VALID_TOKENS",
    "MaskSet",
    "MaskedWeight",
    "UnsupportedBackboneError",
    "fold_masks_",
    "folded_copy",
    "format_sparsity",
    "load_checked_masks_",
    "load_official_masks_",
    "load_packed_masks_",
    "mask_fingerprint",
    "masked_forward",
    "masked_weights",
    "normalize_layers",
    "official_mask_key",
    "pack_bits",
    "pack_masks",
    "packed_nbytes",
    "param_name_from_official_key",
    "select_mask_targets",
    "sparsity_report",
    "unpack_bits",
    "unpack_masks",
]
