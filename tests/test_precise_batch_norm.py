"""Batch-norm statistics recomputed with the final weights."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from conftest import build_random_data, build_tiny_model, values
from disentangle_tf.models.precise_batch_norm import batch_norm_layers, precise_batch_norm


def test_moving_statistics_become_the_mean_of_the_batch_statistics():
    model = build_tiny_model(("a", "b"))
    data = build_random_data(("a", "b"), count=40)
    images = data.images * 3.0 + 2.0  # far from the initial statistics (mean 0, variance 1)
    first = model.encoders[0].get_layer("block0_bn1")
    weights = values(model.trainable_variables)
    count = precise_batch_norm(model, images, batches=4, batch_size=40, seed=0)
    assert count == len(batch_norm_layers(model)) > 0
    # With all 40 images in every batch, each batch has the same statistics: those of the stem's output.
    stem = model.encoders[0].get_layer("stem_conv")(tf.constant(images)).numpy()
    np.testing.assert_allclose(first.moving_mean.numpy(), stem.mean(axis=(0, 1, 2)), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(first.moving_variance.numpy(), stem.var(axis=(0, 1, 2)), rtol=1e-3, atol=1e-5)
    assert all(layer.momentum == 0.99 for layer in batch_norm_layers(model))  # restored
    assert all(np.array_equal(a, b) for a, b in zip(weights, values(model.trainable_variables)))  # no step


def test_inference_then_matches_training_mode_on_the_same_batch():
    model = build_tiny_model(("a", "b"))
    images = build_random_data(("a", "b"), count=32).images * 5.0 - 1.0
    batch = tf.constant(images)
    trained = [cls(enc(batch, training=True), training=True).numpy() for enc, cls in zip(model.encoders, model.classifiers)]
    before = [cls(enc(batch, training=False), training=False).numpy() for enc, cls in zip(model.encoders, model.classifiers)]
    precise_batch_norm(model, images, batches=2, batch_size=32)
    after = [cls(enc(batch, training=False), training=False).numpy() for enc, cls in zip(model.encoders, model.classifiers)]
    for t, b, a in zip(trained, before, after):
        assert np.abs(a - t).max() < 1e-3 < np.abs(b - t).max()


def test_bad_arguments():
    model = build_tiny_model(("a", "b"))
    with pytest.raises(ValueError, match="batches"):
        precise_batch_norm(model, np.zeros((8, 16, 16, 1), "float32"), batches=0)
    with pytest.raises(ValueError, match="at least 50"):
        precise_batch_norm(model, np.zeros((8, 16, 16, 1), "float32"))


def test_a_recomputation_cut_short_leaves_the_statistics_as_they_were():
    model = build_tiny_model(("a", "b"))
    images = build_random_data(("a", "b"), count=40).images * 3.0 + 2.0
    layers = batch_norm_layers(model)
    before = [(layer.moving_mean.numpy(), layer.moving_variance.numpy()) for layer in layers]

    def stop(k):
        if k == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        precise_batch_norm(model, images, batches=3, batch_size=20, on_batch=stop)
    for layer, (mean, variance) in zip(layers, before):
        np.testing.assert_array_equal(layer.moving_mean.numpy(), mean)
        np.testing.assert_array_equal(layer.moving_variance.numpy(), variance)
        assert layer.momentum == 0.99
