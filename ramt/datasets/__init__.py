"""The suite's dataset classes, one module per dataset, registered under CoOp's class names.

Importing this package registers every class in ``ramt.registry.DATASET_REGISTRY``.
"""

from . import (  # noqa: F401
    caltech101,
    digits,
    dtd,
    eurosat,
    fgvc_aircraft,
    food101,
    imagenet,
    imagenet_a,
    imagenet_r,
    imagenet_sketch,
    imagenetv2,
    oxford_flowers,
    oxford_pets,
    stanford_cars,
    sun397,
    ucf101,
)
