"""FusedBatchNormalization computes what keras.layers.BatchNormalization computes."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from disentangle_tf.fast.batch_normalization import FusedBatchNormalization

pytestmark = pytest.mark.keras_internals  # the fast path against Keras's own layer


def _train_once(layer, x):
    """Output, gradients (inputs, gamma, beta) and moving statistics after one training call."""
    weights = np.linspace(0.0, 1.0, x.shape[-1], dtype="float32")
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x, training=True)
        loss = tf.reduce_sum(tf.cast(y, "float32") ** 2 * weights)
    gradients = tape.gradient(loss, [x, layer.gamma, layer.beta])
    return [y, *gradients, layer.moving_mean, layer.moving_variance, layer(x, training=False)]


def _pair(shape, **kwargs):
    layers = [keras.layers.BatchNormalization(**kwargs), FusedBatchNormalization(**kwargs)]
    channels = shape[-1]
    for layer in layers:
        layer.build(shape)
        layer.gamma.assign(np.linspace(0.5, 2.0, channels))
        layer.beta.assign(np.linspace(-1.0, 1.0, channels))
        layer.moving_mean.assign(np.full(channels, 0.3))
        layer.moving_variance.assign(np.full(channels, 2.0))
    return layers


@pytest.mark.parametrize("shape", [(6, 5, 7, 3), (12, 4), (4, 6, 5)], ids=["rank4", "rank2", "rank3"])
def test_training_step_matches_keras_batch_normalization(shape):
    x = tf.constant(np.random.default_rng(0).normal(2.0, 3.0, shape).astype("float32"))
    keras_layer, fused_layer = _pair(shape, momentum=0.9, epsilon=1e-3)
    names = ["outputs", "input gradient", "gamma gradient", "beta gradient", "moving mean",
             "moving variance", "inference outputs"]
    for name, expected, actual in zip(names, _train_once(keras_layer, x), _train_once(fused_layer, x)):
        expected, actual = np.asarray(expected), np.asarray(actual)
        scale = max(1.0, float(np.abs(expected).max()))
        np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-4 * scale, err_msg=name)


def test_moving_variance_is_the_biased_batch_variance():
    # momentum 0: the moving statistics become the batch's own.
    x = np.random.default_rng(1).normal(0.0, 2.0, (5, 3, 3, 2)).astype("float32")
    layer = FusedBatchNormalization(momentum=0.0)
    layer(x, training=True)
    np.testing.assert_allclose(layer.moving_mean, x.mean(axis=(0, 1, 2)), rtol=1e-5)
    np.testing.assert_allclose(layer.moving_variance, x.var(axis=(0, 1, 2)), rtol=1e-4)


def test_mixed_precision_returns_compute_dtype_and_keras_values():
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        shape = (6, 4, 4, 3)
        x = tf.constant(np.random.default_rng(2).normal(size=shape).astype("float16"))
        keras_layer, fused_layer = _pair(shape)
        expected, actual = keras_layer(x, training=True), fused_layer(x, training=True)
    finally:
        keras.mixed_precision.set_global_policy(previous)
    assert actual.dtype == tf.float16
    np.testing.assert_allclose(np.asarray(actual, "float32"), np.asarray(expected, "float32"), atol=1e-2)


def test_config_round_trip_keeps_arguments():
    layer = FusedBatchNormalization(momentum=0.8, epsilon=1e-4, center=False, name="bn")
    clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert type(clone) is FusedBatchNormalization
    assert clone.get_config() == layer.get_config()


def test_unfusable_settings_fall_back_to_keras():
    # An epsilon below the fused kernel's minimum would be clamped by the kernel.
    shape = (6, 3, 3, 2)
    x = tf.constant(np.random.default_rng(3).normal(size=shape).astype("float32"))
    keras_layer, fused_layer = _pair(shape, epsilon=1e-7)
    np.testing.assert_allclose(fused_layer(x * 1e-3, training=True), keras_layer(x * 1e-3, training=True),
                               rtol=1e-5, atol=1e-6)
