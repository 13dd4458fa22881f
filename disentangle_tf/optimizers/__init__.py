"""Keras optimizers whose per-variable updates run as single TensorFlow kernels.

They live in :mod:`disentangle_tf.fast.optimizers` with the package's other fast
paths; their names are importable from here too.
"""

from ..fast.optimizers import FusedAdam, FusedSGD

__all__ = ["FusedAdam", "FusedSGD"]
