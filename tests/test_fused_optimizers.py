"""FusedAdam and FusedSGD make the updates of Keras's Adam and SGD."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from disentangle_tf.fast.optimizers import FusedAdam, FusedSGD

pytestmark = pytest.mark.keras_internals  # the fast paths against Keras's own updates

SHAPES = [(7, 5), (3,)]


def _variables():
    rng = np.random.default_rng(0)
    return [keras.Variable(rng.normal(size=shape).astype("float32")) for shape in SHAPES]


def _gradients(step):
    rng = np.random.default_rng(100 + step)
    return [tf.constant(rng.normal(size=shape).astype("float32")) for shape in SHAPES]


def _train(optimizer, steps, compiled):
    variables = _variables()
    optimizer.build(variables)

    def apply(gradients):
        optimizer.apply_gradients(zip(gradients, variables))

    if compiled:
        apply = tf.function(apply)
    for step in range(steps):
        apply(_gradients(step))
    slots = [np.asarray(v) for v in optimizer.variables]
    return [np.asarray(v) for v in variables], slots


CASES = {
    "adam-authors": (keras.optimizers.Adam, FusedAdam, dict(learning_rate=1e-2, beta_1=0.0, beta_2=0.9, epsilon=1e-5)),
    "adam-default": (keras.optimizers.Adam, FusedAdam, dict(learning_rate=1e-2)),
    "sgd-momentum": (keras.optimizers.SGD, FusedSGD, dict(learning_rate=1e-2, momentum=0.9)),
    "sgd-nesterov": (keras.optimizers.SGD, FusedSGD, dict(learning_rate=1e-2, momentum=0.9, nesterov=True)),
}


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "graph"])
@pytest.mark.parametrize("case", list(CASES))
def test_fused_update_equals_keras_update(case, compiled):
    keras_class, fused_class, kwargs = CASES[case]
    expected_variables, expected_slots = _train(keras_class(**kwargs), 4, compiled)
    actual_variables, actual_slots = _train(fused_class(**kwargs), 4, compiled)
    moved = max(np.abs(v - w).max() for v, w in zip(expected_variables, _variables()))
    assert moved > 1e-3  # the updates did something
    for expected, actual in zip(expected_variables + expected_slots, actual_variables + actual_slots):
        np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("fused_class", [FusedAdam, FusedSGD])
def test_config_round_trip(fused_class):
    optimizer = fused_class(learning_rate=0.03)
    clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(optimizer))
    assert type(clone) is fused_class
    assert clone.get_config() == optimizer.get_config()


@pytest.mark.parametrize("fused_class, kernel", [(FusedAdam, "ResourceApplyAdam"),
                                                 (FusedSGD, "ResourceApplyKerasMomentum")])
def test_graph_uses_one_kernel_per_variable(fused_class, kernel):
    optimizer = fused_class(learning_rate=0.01, momentum=0.9) if fused_class is FusedSGD else fused_class()
    variables = _variables()
    optimizer.build(variables)
    apply = tf.function(lambda gradients: optimizer.apply_gradients(zip(gradients, variables)))
    graph = apply.get_concrete_function(_gradients(0)).graph
    types = [op.type for op in graph.get_operations()]
    assert types.count(kernel) == len(variables)
