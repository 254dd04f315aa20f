"""Summarise the results of several runs (seeds), CoOp-compatible; the same as ``ramt-parse``.

    python parse_test_res.py output/caltech101/RAMT/vit_b16_16shots

The implementation is ``ramt.parse_test_res``.
"""

from ramt.parse_test_res import *  # noqa: F401,F403
from ramt.parse_test_res import cli

if __name__ == "__main__":
    cli()
