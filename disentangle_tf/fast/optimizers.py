"""Keras's Adam and SGD with each variable's update as one TensorFlow kernel, or Keras's own
with the fast paths off."""

from __future__ import annotations

import keras
import tensorflow as tf

from . import enabled
from .keras_internals import ADAM_SLOTS, SGD_SLOTS, slot_variables


def fused_update_applies(gradient, variable) -> bool:
    """True for a dense float32 gradient of a plain (not distributed) variable on TensorFlow.

    Under a ``tf.distribute`` strategy, for sparse gradients and for other dtypes the
    optimizers fall back to Keras's own update, which handles those cases.
    """
    return (
        keras.backend.backend() == "tensorflow"
        and not tf.distribute.has_strategy()
        and not isinstance(gradient, tf.IndexedSlices)
        and variable.dtype == tf.float32
    )


@keras.saving.register_keras_serializable(package="disentangle_tf")
class FusedAdam(keras.optimizers.Adam):
    """``keras.optimizers.Adam`` whose update of each variable is ``ResourceApplyAdam``.

    Keras 3 updates every variable with about fifteen separate ops (moments, bias
    correction, division, assignments); each is a pass over the variable's memory and
    a node to trace. TensorFlow's ``ResourceApplyAdam`` kernel computes the same update
    (``m += (g - m)(1 - beta_1)``, ``v += (g^2 - v)(1 - beta_2)``,
    ``w -= alpha m / (sqrt(v) + epsilon)`` with
    ``alpha = lr sqrt(1 - beta_2^t) / (1 - beta_1^t)``) in one pass. Arguments, slot
    variables and saved state are Adam's. Keras's update runs instead under a
    ``tf.distribute`` strategy, with ``amsgrad``, for sparse gradients, for
    non-float32 variables and with a Keras that lacks the private names of the slot
    variables (:mod:`~disentangle_tf.fast.keras_internals`).

    Args:
        **kwargs: the arguments of ``keras.optimizers.Adam``.

    Example:

    >>> optimizer = FusedAdam(learning_rate=1e-3)
    >>> optimizer.get_config()["learning_rate"]
    0.001
    """

    def update_step(self, gradient, variable, learning_rate):
        slots = (None if self.amsgrad or not fused_update_applies(gradient, variable)
                 else slot_variables(self, ADAM_SLOTS, variable))
        if slots is None:
            return super().update_step(gradient, variable, learning_rate)
        momentum, velocity = slots
        dtype = variable.dtype
        local_step = tf.cast(self.iterations + 1, dtype)
        beta_1 = tf.cast(self.beta_1, dtype)
        beta_2 = tf.cast(self.beta_2, dtype)
        tf.raw_ops.ResourceApplyAdam(
            var=variable.handle,
            m=momentum.handle,
            v=velocity.handle,
            beta1_power=tf.pow(beta_1, local_step),
            beta2_power=tf.pow(beta_2, local_step),
            lr=tf.cast(learning_rate, dtype),
            beta1=beta_1,
            beta2=beta_2,
            epsilon=tf.cast(self.epsilon, dtype),
            grad=tf.cast(gradient, dtype),
            use_locking=False,
        )


@keras.saving.register_keras_serializable(package="disentangle_tf")
class FusedSGD(keras.optimizers.SGD):
    """``keras.optimizers.SGD`` whose momentum update is ``ResourceApplyKerasMomentum``.

    The kernel computes Keras's update (``m = momentum m - lr g``, ``w += m``, or its
    Nesterov form) in one pass over the variable instead of four separate ops.
    Arguments, slot variables and saved state are SGD's. Keras's update runs instead
    without momentum, under a ``tf.distribute`` strategy, for sparse gradients, for
    non-float32 variables and with a Keras that lacks the private names of the slot
    variables (:mod:`~disentangle_tf.fast.keras_internals`).

    Args:
        **kwargs: the arguments of ``keras.optimizers.SGD``.

    Example:

    >>> optimizer = FusedSGD(learning_rate=1e-2, momentum=0.9)
    >>> optimizer.get_config()["momentum"]
    0.9
    """

    def update_step(self, gradient, variable, learning_rate):
        slots = (None if self.momentum == 0 or not fused_update_applies(gradient, variable)
                 else slot_variables(self, SGD_SLOTS, variable))
        if slots is None:
            return super().update_step(gradient, variable, learning_rate)
        (accumulator,) = slots
        dtype = variable.dtype
        tf.raw_ops.ResourceApplyKerasMomentum(
            var=variable.handle,
            accum=accumulator.handle,
            lr=tf.cast(learning_rate, dtype),
            grad=tf.cast(gradient, dtype),
            momentum=tf.cast(self.momentum, dtype),
            use_locking=False,
            use_nesterov=self.nesterov,
        )


def adam(*args, **kwargs) -> keras.optimizers.Adam:
    """:class:`FusedAdam` with the fast paths on (:func:`disentangle_tf.fast.enabled`),
    else ``keras.optimizers.Adam``; the arguments are Adam's."""
    return (FusedAdam if enabled() else keras.optimizers.Adam)(*args, **kwargs)


def sgd(*args, **kwargs) -> keras.optimizers.SGD:
    """:class:`FusedSGD` with the fast paths on (:func:`disentangle_tf.fast.enabled`),
    else ``keras.optimizers.SGD``; the arguments are SGD's."""
    return (FusedSGD if enabled() else keras.optimizers.SGD)(*args, **kwargs)
