"""The moving average of the weights: computed step by step, put in place at the end."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from conftest import build_random_data, build_tiny_model
from disentangle_tf.run.weight_averaging import WeightAveraging


class RecordWeights(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.steps = [[v.numpy().copy() for v in self.model.encoder_variables]]

    def on_train_batch_end(self, batch, logs=None):
        self.steps.append([v.numpy().copy() for v in self.model.encoder_variables])


def test_the_final_weights_are_the_moving_average_of_the_steps():
    data = build_random_data(("a", "b"), count=12, seed=1)
    model = build_tiny_model(("a", "b"))
    model.compile(adversary_batches="same", adversary_steps=1, run_eagerly=True)
    record, momentum = RecordWeights(), 0.6
    adversaries_before = [v.numpy().copy() for v in model.adversary_variables]
    model.fit(data.images, data.labels, batch_size=4, epochs=1, shuffle=False, verbose=0,
              callbacks=[record, WeightAveraging(momentum)])
    assert len(record.steps) == 4  # the start and three steps
    expected = record.steps[0]
    for step in record.steps[1:]:
        expected = [momentum * a + (1 - momentum) * w for a, w in zip(expected, step)]
    for value, variable in zip(expected, model.encoder_variables):
        np.testing.assert_allclose(variable.numpy(), value, rtol=1e-5, atol=1e-6)
    # The last step's weights differ from the average; the adversaries are left as trained.
    assert any(not np.allclose(w, v.numpy()) for w, v in zip(record.steps[-1], model.encoder_variables))
    assert any(not np.allclose(b, v.numpy()) for b, v in zip(adversaries_before, model.adversary_variables))


@pytest.mark.parametrize("momentum", [-0.1, 1.0, float("nan")])
def test_a_momentum_outside_zero_to_one_is_refused(momentum):
    with pytest.raises(ValueError, match=r"momentum must be in \[0, 1\)"):
        WeightAveraging(momentum)
