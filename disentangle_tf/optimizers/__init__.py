"""Keras optimizers whose per-variable updates run as single TensorFlow kernels."""

from .fused_adam import FusedAdam
from .fused_sgd import FusedSGD

__all__ = ["FusedAdam", "FusedSGD"]
