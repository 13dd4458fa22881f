"""What the ``tf.distribute`` strategy in force allows an update loop to do, and the strategy
a model trains under."""

from __future__ import annotations

import tensorflow as tf


def replicated_strategy_active() -> bool:
    """Whether the code runs under a strategy that synchronises replicas' updates.

    True under any strategy other than TensorFlow's default one and
    ``OneDeviceStrategy`` (``MirroredStrategy``, ``MultiWorkerMirroredStrategy``, ...),
    whatever its number of replicas: one GPU, or one CPU, under ``MirroredStrategy`` is
    still such a strategy. There an optimizer's ``apply_gradients`` goes through the
    replica context's ``merge_call``, which cannot run inside a ``tf.while_loop`` or a
    nested ``tf.function`` (``RuntimeError: merge_call called while defining a new
    graph``): loops of optimizer updates must be unrolled.
    """
    if not tf.distribute.has_strategy():
        return False
    return not isinstance(tf.distribute.get_strategy(), tf.distribute.OneDeviceStrategy)


def model_strategy(model):
    """The ``tf.distribute`` strategy ``model`` trains under; None for TensorFlow's default one.

    A model made in a strategy's scope keeps that strategy (``keras.Model.distribute_strategy``);
    one made outside every scope trains under the strategy in scope when it trains, if any.
    """
    strategy = model.distribute_strategy
    if tf.distribute.has_strategy() or strategy is not tf.distribute.get_strategy():
        return strategy
    return None
