"""When an optimizer update can run as one fused TensorFlow kernel."""

from __future__ import annotations

import keras
import tensorflow as tf


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
