"""Same-batch adversary updates in factored form equal the plain updates."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from conftest import build_random_data, build_tiny_model, clone_model, values
from disentangle_tf.data import make_training_dataset
from disentangle_tf.fast.factored_adversary_updates import factored_updates_apply
from disentangle_tf.fast.optimizers import FusedSGD


def _schedule():
    return keras.optimizers.schedules.ExponentialDecay(0.05, decay_steps=2, decay_rate=0.5)


ADVERSARY_OPTIMIZERS = {
    "fused_sgd": lambda: FusedSGD(0.05, momentum=0.9),
    "keras_sgd": lambda: keras.optimizers.SGD(0.05, momentum=0.8),
    "nesterov": lambda: keras.optimizers.SGD(0.05, momentum=0.9, nesterov=True),
    "schedule": lambda: keras.optimizers.SGD(_schedule(), momentum=0.9),
}


#: Every optimizer eagerly; compiled, the package's own and the one whose learning rate is
#: read from its iterations while the step runs (what a traced step could get wrong). The
#: other two differ from Keras's SGD by their formulas alone, which tracing does not change;
#: tracing a step of three tasks' adversaries costs about 7 s a model.
CASES = [(optimizer, True) for optimizer in sorted(ADVERSARY_OPTIMIZERS)] + [("fused_sgd", False),
                                                                            ("schedule", False)]


@pytest.mark.parametrize("optimizer, eager", CASES)
def test_factored_updates_equal_plain_updates(optimizer, eager):
    data = build_random_data(("a", "b", "c"), count=16)
    factored = build_tiny_model(("a", "b", "c"), l2_weight=1e-2)
    plain = clone_model(factored)
    for model, use_factored in ((factored, True), (plain, False)):
        model.compile(adversary_optimizer=ADVERSARY_OPTIMIZERS[optimizer](), adversarial_weight=0.5,
                      adversary_steps=3, adversary_batches="same", run_eagerly=eager,
                      factored_adversary_updates=use_factored)
    assert factored_updates_apply(factored.adversary_optimizer, factored.adversaries)
    dataset = make_training_dataset(data, batch_size=8, adversary_steps=0, flip=False, shuffle=False, device=None)
    # Two main steps: the second starts from a non-zero momentum.
    for model in (factored, plain):
        model.fit(dataset, epochs=1, verbose=0)
    assert int(factored.adversary_optimizer.iterations) == int(plain.adversary_optimizer.iterations) == 6
    kernels = [adversary.projection.kernel for adversary in factored.adversaries]
    assert all(np.abs(values([k])[0]).max() > 0 for k in kernels)
    for a, b in zip(values(factored.weights), values(plain.weights)):
        np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-5)
    for a, b in zip(values(factored.adversary_optimizer.variables), values(plain.adversary_optimizer.variables)):
        np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-5)


@pytest.mark.parametrize("optimizer", [
    lambda: keras.optimizers.SGD(0.05),  # no momentum
    lambda: keras.optimizers.SGD(0.05, momentum=0.9, clipnorm=1.0),
    lambda: keras.optimizers.SGD(0.05, momentum=0.9, weight_decay=1e-3),
    lambda: keras.optimizers.SGD(0.05, momentum=0.9, use_ema=True),
    lambda: keras.optimizers.Adam(0.05),
], ids=["no_momentum", "clipnorm", "weight_decay", "ema", "adam"])
def test_other_optimizers_use_plain_updates(optimizer):
    model = build_tiny_model(("a", "b"))
    model.compile(adversary_optimizer=optimizer(), adversary_steps=2, adversary_batches="same")
    assert not factored_updates_apply(model.adversary_optimizer, model.adversaries)


class ClippedSGD(keras.optimizers.SGD):
    """An SGD whose update is its own: the factored form would not compute it."""

    def update_step(self, gradient, variable, learning_rate):
        super().update_step(keras.ops.clip(gradient, -0.1, 0.1), variable, learning_rate)


def test_sgd_subclass_with_its_own_update_uses_plain_updates():
    model = build_tiny_model(("a", "b"))
    model.compile(adversary_optimizer=ClippedSGD(0.05, momentum=0.9), adversary_steps=2,
                  adversary_batches="same")
    assert not factored_updates_apply(model.adversary_optimizer, model.adversaries)


def test_other_regularizers_use_plain_updates():
    model = build_tiny_model(("a", "b"))
    model.compile(adversary_steps=2, adversary_batches="same")
    assert factored_updates_apply(model.adversary_optimizer, model.adversaries)
    model.adversaries[0].projection.kernel_regularizer = keras.regularizers.L1(1e-3)
    assert not factored_updates_apply(model.adversary_optimizer, model.adversaries)
