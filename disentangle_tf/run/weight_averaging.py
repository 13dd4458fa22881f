"""An exponential moving average of the encoders' and classifiers' weights.

The weights a run ends with are those of its last step, which carry the noise of the
last batches; the moving average over the last few hundred steps does not (Polyak &
Juditsky, "Acceleration of stochastic approximation by averaging", SIAM J. Control
Optim. 1992; as in Keras's ``use_ema`` optimizer option, which cannot be used here
because ``fit`` would finalise the adversaries' variables with the main optimizer's
averages).
"""

from __future__ import annotations

import keras
import tensorflow as tf


class WeightAveraging(keras.callbacks.Callback):
    """Keep ``average = momentum * average + (1 - momentum) * weight`` after every
    training step, for every trainable variable of the encoders and classifiers, and
    put the averages in place of the weights when training ends.

    Batch-norm moving statistics are not averaged; recompute them for the averaged
    weights (``precise_batch_norm``), as the recommended setting does anyway.

    Args:
        momentum: the average's decay per step, in ``[0, 1)``; 0.99 averages over
            about the last 100 steps.

    Raises:
        ValueError: for a momentum outside ``[0, 1)``.
    """

    def __init__(self, momentum: float = 0.99):
        super().__init__()
        if not 0.0 <= float(momentum) < 1.0:
            raise ValueError(f"momentum must be in [0, 1); got {momentum!r}")
        self.momentum = float(momentum)
        self._averages = None
        self._update = None

    def on_train_begin(self, logs=None):
        variables = self.model.encoder_variables
        if self._averages is None:
            self._averages = [tf.Variable(v, trainable=False) for v in variables]
        momentum = self.momentum

        @tf.function
        def update():
            for average, variable in zip(self._averages, variables):
                average.assign(momentum * average + (1.0 - momentum) * variable)

        self._update = update

    def on_train_batch_end(self, batch, logs=None):
        self._update()

    def on_train_end(self, logs=None):
        for average, variable in zip(self._averages, self.model.encoder_variables):
            variable.assign(average)
