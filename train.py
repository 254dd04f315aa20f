"""Train or evaluate a trainer (CoOp's ``train.py``); the same as the ``ramt-train`` command.

    python train.py --root $DATA --seed 1 --trainer RAMT \
        --dataset-config-file configs/datasets/caltech101.yaml \
        --config-file configs/trainers/RAMT/vit_b16.yaml \
        --output-dir output/caltech101/RAMT/vit_b16_16shots/seed1 DATASET.NUM_SHOTS 16

The implementation is ``ramt.train``.
"""

import sys

from ramt.train import *  # noqa: F401,F403
from ramt.train import cli

if __name__ == "__main__":
    sys.exit(cli())
