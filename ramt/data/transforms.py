"""Image transforms (Dassl's ``build_transform``, the subset the suite uses).

Size, interpolation, mean/std and resize mode come from
:func:`ramt.clip.backbones.resolve_preprocess`: explicit ``INPUT.*`` values win, the backbone
(table or open_clip pretrained config) gives the rest.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Optional

import torchvision.transforms as T
from torchvision.transforms import InterpolationMode

from ramt.clip.backbones import RESIZE_MODES, Preprocess
from ramt.clip.spec import backbone_spec

__all__ = ["INTERPOLATION_MODES", "AVAILABLE_TRANSFORMS", "build_transform", "build_to_tensor"]

INTERPOLATION_MODES = {
    "bilinear": InterpolationMode.BILINEAR,
    "bicubic": InterpolationMode.BICUBIC,
    "nearest": InterpolationMode.NEAREST,
}

AVAILABLE_TRANSFORMS = (
    "random_resized_crop",
    "random_crop",
    "random_flip",
    "center_crop",
    "colorjitter",
    "randomgrayscale",
    "gaussian_blur",
    "normalize",
)


def _interpolation(pp: Preprocess) -> InterpolationMode:
    name = str(pp.interpolation).lower()
    if name not in INTERPOLATION_MODES:
        raise ValueError(
            f"INPUT.INTERPOLATION must be one of {sorted(INTERPOLATION_MODES)} (or 'backbone'), got "
            f"{pp.interpolation!r} ({pp.source})"
        )
    return INTERPOLATION_MODES[name]


def _check_resize_mode(pp: Preprocess) -> None:
    if pp.resize_mode not in RESIZE_MODES:
        raise ValueError(
            f"Resize mode {pp.resize_mode!r} ({pp.source}) is not supported; set INPUT.RESIZE_MODE to one of "
            f"{', '.join(RESIZE_MODES)}."
        )


def _check_choices(choices: Sequence[str]) -> None:
    for choice in choices:
        if choice not in AVAILABLE_TRANSFORMS:
            raise ValueError(
                f"Unknown transform {choice!r} in INPUT.TRANSFORMS. Known transforms: "
                f"{', '.join(AVAILABLE_TRANSFORMS)}."
            )


def _normalize(pp: Preprocess) -> T.Normalize:
    return T.Normalize(mean=list(pp.mean), std=list(pp.std))


def _normalize_line(pp: Preprocess) -> str:
    return f"+ normalization (mean={list(pp.mean)}, std={list(pp.std)})"


def build_transform(
    cfg,
    is_train: bool = True,
    choices: Optional[Sequence[str]] = None,
    preprocess: Optional[Preprocess] = None,
):
    """Build the train or test transform from ``INPUT.*``; returns None with ``NO_TRANSFORM``.

    ``preprocess`` defaults to the run's :func:`~ramt.clip.spec.backbone_spec` preprocessing.
    """
    if cfg.INPUT.NO_TRANSFORM:
        print("Note: no transform is applied!")
        return None
    choices = tuple(cfg.INPUT.TRANSFORMS if choices is None else choices)
    _check_choices(choices)
    pp = preprocess or backbone_spec(cfg).preprocess
    size = pp.size
    interp = _interpolation(pp)
    _check_resize_mode(pp)
    if is_train:
        return _build_train(cfg, pp, choices, size, interp)
    return _build_test(pp, choices, size, interp)


def _build_train(cfg, pp, choices, size, interp):
    print("Building transform_train")
    tfm = []
    if "random_crop" not in choices and "random_resized_crop" not in choices:
        print(f"+ resize to {size[0]}x{size[1]}")
        tfm.append(T.Resize(size, interpolation=interp))
    if "random_crop" in choices:
        print(f"+ random crop (padding = 4, size={size})")
        tfm.append(T.RandomCrop(size, padding=4))
    if "random_resized_crop" in choices:
        scale = tuple(float(s) for s in cfg.INPUT.RRCROP_SCALE)
        print(f"+ random resized crop (size={size}, scale={scale})")
        tfm.append(T.RandomResizedCrop(size, scale=scale, ratio=(3.0 / 4.0, 4.0 / 3.0), interpolation=interp))
    if "random_flip" in choices:
        print("+ random flip")
        tfm.append(T.RandomHorizontalFlip(p=0.5))
    if "center_crop" in choices:
        print(f"+ {size[0]}x{size[1]} center crop")
        tfm.append(T.CenterCrop(size))
    if "colorjitter" in choices:
        print("+ color jitter")
        tfm.append(T.ColorJitter(brightness=0.4, contrast=0.4, saturation=0.4, hue=0.1))
    if "randomgrayscale" in choices:
        print("+ random gray scale")
        tfm.append(T.RandomGrayscale(p=0.2))
    if "gaussian_blur" in choices:
        print("+ gaussian blur (kernel=23)")
        tfm.append(T.RandomApply([T.GaussianBlur(23)], p=0.5))
    print("+ to torch tensor of range [0, 1]")
    tfm.append(T.ToTensor())
    if "normalize" in choices:
        print(_normalize_line(pp))
        tfm.append(_normalize(pp))
    return T.Compose(tfm)


def _build_test(pp, choices, size, interp):
    print("Building transform_test")
    tfm = []
    if pp.resize_mode == "squash":
        print(f"+ resize to {size[0]}x{size[1]}")
        tfm.append(T.Resize(size, interpolation=interp))
    else:
        print(f"+ resize the smaller edge to {max(size)}")
        tfm.append(T.Resize(max(size), interpolation=interp))
        print(f"+ {size[0]}x{size[1]} center crop")
        tfm.append(T.CenterCrop(size))
    print("+ to torch tensor of range [0, 1]")
    tfm.append(T.ToTensor())
    if "normalize" in choices:
        print(_normalize_line(pp))
        tfm.append(_normalize(pp))
    return T.Compose(tfm)


def build_to_tensor(cfg, preprocess: Optional[Preprocess] = None):
    """The 'untransformed' view (``img0``): resize to the input size, to tensor, normalise if chosen."""
    pp = preprocess or backbone_spec(cfg).preprocess
    tfm = [T.Resize(pp.size, interpolation=_interpolation(pp)), T.ToTensor()]
    if "normalize" in tuple(cfg.INPUT.TRANSFORMS):
        tfm.append(_normalize(pp))
    return T.Compose(tfm)
