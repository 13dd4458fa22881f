"""FusedL2 gives Keras's L2 penalty and gradient, through one kernel."""

import keras
import numpy as np
import tensorflow as tf

import disentangle_tf
from disentangle_tf.models import DenseHead, FusedL2, ResidualEncoder


def test_penalty_and_gradient_equal_keras_l2():
    weights = tf.Variable(np.random.default_rng(0).standard_normal((300, 7)).astype("float32"))
    values = {}
    for name, regularizer in (("keras", keras.regularizers.L2(3e-3)), ("fused", FusedL2(3e-3))):
        with tf.GradientTape() as tape:
            penalty = regularizer(weights)
        values[name] = (float(penalty), tape.gradient(penalty, weights).numpy())
    np.testing.assert_allclose(values["fused"][0], values["keras"][0], rtol=1e-5)
    np.testing.assert_allclose(values["fused"][1], values["keras"][1], rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(values["fused"][1], 2 * 3e-3 * weights.numpy(), rtol=1e-5)


def test_graph_uses_the_fused_kernel_and_no_weight_sized_broadcast():
    weights = tf.Variable(tf.ones((64, 32)))

    def op_types(regularizer):
        @tf.function
        def penalty_and_gradient():
            with tf.GradientTape() as tape:
                penalty = regularizer(weights)
            return penalty, tape.gradient(penalty, weights)

        graph = penalty_and_gradient.get_concrete_function().graph
        return {op.type for op in graph.get_operations()}

    fused, plain = op_types(FusedL2(1e-3)), op_types(keras.regularizers.L2(1e-3))
    assert "L2Loss" in fused and "L2Loss" not in plain
    assert "Square" in plain and "Square" not in fused
    assert not {"Tile", "BroadcastTo"} & fused


def test_config_round_trip_and_public_name():
    regularizer = FusedL2(0.25)
    restored = keras.regularizers.deserialize(keras.regularizers.serialize(regularizer))
    assert type(restored) is FusedL2 and restored.l2 == 0.25
    assert disentangle_tf.FusedL2 is FusedL2


def test_models_penalise_every_kernel_with_it():
    encoder = ResidualEncoder((16, 16, 1), filters=(4, 8), strides=(2, 2), l2_weight=1e-4)
    head = DenseHead(32, num_classes=2, units=(8,), l2_weight=1e-4)
    for model in (encoder, head):
        kernels = [layer for layer in model.layers if hasattr(layer, "kernel_regularizer") and layer.kernel_regularizer]
        assert kernels and all(isinstance(layer.kernel_regularizer, FusedL2) for layer in kernels)
        expected = sum(1e-4 * float(tf.reduce_sum(tf.square(layer.kernel))) for layer in kernels)
        np.testing.assert_allclose(float(sum(model.losses)), expected, rtol=1e-5)
