"""Batch normalisation through TensorFlow's fused kernel, or Keras's own with the fast paths off."""

from __future__ import annotations

import keras
from keras import ops

from . import enabled


@keras.saving.register_keras_serializable(package="disentangle_tf")
class FusedBatchNormalization(keras.layers.BatchNormalization):
    """``keras.layers.BatchNormalization`` computed by TensorFlow's fused kernel in training.

    Keras 3 on TensorFlow computes the batch moments, the normalisation and their
    gradients as a dozen separate element-wise ops (``Mean``, ``SquaredDifference``,
    ``Tile``, ``Mul``, ...). This layer sends the training-mode forward pass through
    ``tf.compat.v1.nn.fused_batch_norm`` instead: one op forward and one backward,
    2.0x to 2.7x faster on the encoder's feature maps on a CPU with oneDNN
    (``docs/performance.rst``). Arguments, weights, moving statistics and results are
    those of the parent layer; the fused kernel's unbiased batch variance is rescaled to
    the biased variance that Keras averages into ``moving_variance``.

    The parent's own computation runs where the fused kernel does not apply: inference,
    a backend other than TensorFlow, inputs of rank other than 2 or 4, an axis other
    than the last, masks, ``renorm``, ``synchronized`` statistics across replicas, or an
    ``epsilon`` below the kernel's minimum of 1.001e-5.

    Args:
        **kwargs: the arguments of ``keras.layers.BatchNormalization``.

    Returns:
        A layer normalising its inputs over every axis but the last.

    Example:

    >>> import numpy as np
    >>> layer = FusedBatchNormalization()
    >>> y = layer(np.random.rand(8, 4, 4, 3).astype("float32"), training=True)
    >>> tuple(y.shape)
    (8, 4, 4, 3)
    """

    MIN_EPSILON = 1.001e-5

    def _fused_applies(self, inputs, training, mask) -> bool:
        rank = len(inputs.shape)
        return (
            training is True
            and self.trainable
            and keras.backend.backend() == "tensorflow"
            and rank in (2, 4)
            and self.axis in (-1, rank - 1)
            and mask is None
            and not getattr(self, "renorm", False)  # an argument from Keras 3.14 on
            and not self.synchronized
            and self.epsilon >= self.MIN_EPSILON
        )

    def call(self, inputs, training=None, mask=None):
        if not self._fused_applies(inputs, training, mask):
            return super().call(inputs, training=training, mask=mask)
        import tensorflow as tf

        # Statistics in float32 whatever the compute dtype, as the parent does.
        x = ops.cast(inputs, "float32")
        rank = len(inputs.shape)
        if rank == 2:
            x = x[:, None, None, :]
        channels = x.shape[-1]
        scale = ops.cast(self.gamma, "float32") if self.scale else tf.ones([channels])
        offset = ops.cast(self.beta, "float32") if self.center else tf.zeros([channels])
        y, mean, unbiased_variance = tf.compat.v1.nn.fused_batch_norm(
            x, scale, offset, epsilon=self.epsilon, is_training=True, data_format="NHWC")
        count = tf.cast(tf.size(x) // channels, "float32")
        variance = unbiased_variance * (count - 1.0) / tf.maximum(count, 1.0)
        self.moving_mean.assign(self.moving_mean * self.momentum + mean * (1.0 - self.momentum))
        self.moving_variance.assign(
            self.moving_variance * self.momentum + variance * (1.0 - self.momentum))
        if rank == 2:
            y = y[:, 0, 0, :]
        return ops.cast(y, self.compute_dtype)


def batch_normalization(**kwargs) -> keras.layers.BatchNormalization:
    """A batch normalisation layer: :class:`FusedBatchNormalization` with the fast paths
    on (:func:`disentangle_tf.fast.enabled`), else ``keras.layers.BatchNormalization``.

    Args:
        **kwargs: the arguments of ``keras.layers.BatchNormalization``.
    """
    return (FusedBatchNormalization if enabled() else keras.layers.BatchNormalization)(**kwargs)
