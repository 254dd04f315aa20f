"""R-AMT: Regularized Mask Tuning of CLIP, in a CoOp-style research suite."""

__version__ = "0.1.0"
