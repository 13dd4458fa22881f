"""The gradient reversal layer of Ganin & Lempitsky, "Unsupervised domain adaptation by
backpropagation", ICML 2015 (``adversarial_training="gradient_reversal"``)."""

from __future__ import annotations

import tensorflow as tf


@tf.custom_gradient
def reverse_gradient(features, scale):
    """Identity forward; the gradient into ``features`` multiplied by ``-scale``.

    Args:
        features: a float tensor of any shape.
        scale: a float32 scalar tensor (no gradient flows into it).

    Returns:
        ``features`` unchanged (a tensor of the same shape and dtype).
    """
    def gradient(upstream):
        return -scale * upstream, tf.zeros_like(scale)

    return tf.identity(features), gradient
