"""L2 weight penalty through TensorFlow's fused L2Loss kernel."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="disentangle_tf")
class FusedL2(keras.regularizers.L2):
    """``keras.regularizers.L2`` computed by TensorFlow's ``L2Loss`` kernel.

    The penalty is the parent's, ``l2 * sum(square(x))``. Keras 3 computes it as a
    ``Square`` and a ``Sum``, whose gradient then broadcasts the scalar back to the
    weight's shape and multiplies twice: five passes over a weight-sized tensor. This
    regulariser computes ``2 * l2 * tf.nn.l2_loss(x)``: one pass forward, one
    multiplication backward. It matters for large weights: an adversary's first layer
    on 224x288 images flattens 64,512 features into 256 units (16.5 M weights) and is
    penalised at each of its five updates per step; the same-batch step was 1.31x the
    ``lambda = 0`` step with Keras's L2 and 1.07x with this one, in one measurement
    (``docs/performance.rst``).

    On a backend other than TensorFlow it computes the parent's expression.

    Args:
        l2: the penalty factor (``loss = l2 * sum(square(x))``).

    Returns:
        A regulariser: called on a weight, the scalar penalty.

    Example:

    >>> import numpy as np
    >>> weights = np.arange(4.0, dtype="float32")
    >>> float(FusedL2(0.5)(weights))
    7.0
    """

    def __call__(self, x):
        if keras.backend.backend() != "tensorflow":
            return super().__call__(x)
        import tensorflow as tf

        return ops.cast(2.0 * self.l2, dtype=x.dtype) * tf.nn.l2_loss(x)
