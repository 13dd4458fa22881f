"""SGD with momentum whose per-variable update is one TensorFlow kernel."""

from __future__ import annotations

import keras
import tensorflow as tf

from .fusable import fused_update_applies


@keras.saving.register_keras_serializable(package="disentangle_tf")
class FusedSGD(keras.optimizers.SGD):
    """``keras.optimizers.SGD`` whose momentum update is ``ResourceApplyKerasMomentum``.

    The kernel computes Keras's update (``m = momentum m - lr g``, ``w += m``, or its
    Nesterov form) in one pass over the variable instead of four separate ops.
    Arguments, slot variables and saved state are SGD's. Keras's update runs instead
    without momentum, under a ``tf.distribute`` strategy, for sparse gradients and for
    non-float32 variables.

    Args:
        **kwargs: the arguments of ``keras.optimizers.SGD``.

    Example:

    >>> optimizer = FusedSGD(learning_rate=1e-2, momentum=0.9)
    >>> optimizer.get_config()["momentum"]
    0.9
    """

    def update_step(self, gradient, variable, learning_rate):
        if self.momentum == 0 or not fused_update_applies(gradient, variable):
            return super().update_step(gradient, variable, learning_rate)
        dtype = variable.dtype
        tf.raw_ops.ResourceApplyKerasMomentum(
            var=variable.handle,
            accum=self.momentums[self._get_variable_index(variable)].handle,
            lr=tf.cast(learning_rate, dtype),
            grad=tf.cast(gradient, dtype),
            momentum=tf.cast(self.momentum, dtype),
            use_locking=False,
            use_nesterov=self.nesterov,
        )
