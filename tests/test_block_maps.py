"""The independence penalty on block output maps (``independence_layers="block_maps"``)."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import ops

from conftest import build_random_data, build_tiny_model, clone_model
from disentangle_tf.models import objectives
from disentangle_tf.models.block_maps import grid_cells


def _batch(data):
    return tf.constant(data.images), {t: tf.constant(v) for t, v in data.labels.items()}


def test_grid_cells_are_the_averages_of_the_quadrants():
    maps = np.random.default_rng(0).normal(size=(3, 6, 8, 2)).astype("float32")
    cells = np.asarray(grid_cells(tf.constant(maps), grid=2))
    assert cells.shape == (3, 4, 2)
    quadrants = [maps[:, :3, :4], maps[:, :3, 4:], maps[:, 3:, :4], maps[:, 3:, 4:]]  # row-major
    for k, quadrant in enumerate(quadrants):
        np.testing.assert_allclose(cells[:, k], quadrant.mean(axis=(1, 2)), rtol=1e-5, atol=1e-6)


def test_grid_cells_leave_out_the_rows_and_columns_that_do_not_fill_a_cell():
    maps = np.random.default_rng(1).normal(size=(2, 7, 9, 1)).astype("float32")
    cells = np.asarray(grid_cells(tf.constant(maps), grid=2))
    np.testing.assert_allclose(cells[:, 3, 0], maps[:, 3:6, 4:8, 0].mean(axis=(1, 2)), rtol=1e-5, atol=1e-6)
    # A map smaller than the grid gives one cell per pixel.
    single = np.asarray(grid_cells(tf.constant(maps[:, :1, :1]), grid=2))
    np.testing.assert_allclose(single[:, 0, 0], maps[:, 0, 0, 0], rtol=1e-6)


def test_cells_see_a_dependence_the_global_average_hides():
    """Cells of +1 and -1 on one background, of 0 on the other: the averages are equal
    (all 0), the cells differ (the penalty must see it)."""
    model = build_tiny_model(("a", "b"))
    model.compile(independence_weight=1.0, independence_layers="block_maps", adversary_steps=0)
    count = 16
    rng = np.random.default_rng(2)
    own = np.arange(count) % 2
    other = rng.permutation(np.arange(count) % 2)
    contrast = np.where(other == 1, 1.0, 0.0)[:, None]
    noise = 0.01 * rng.normal(size=(count, 4, 3))
    noise -= noise.mean(axis=1, keepdims=True)  # every image's cells average to exactly 0
    cells = (np.stack([contrast, -contrast, contrast, -contrast], axis=1) + noise).astype("float32")  # (N, 4, 3)
    labels = [tf.constant(own), tf.constant(other)]
    averaged = tf.reduce_mean(cells, axis=1)
    cell_penalty = float(model._independence_loss([tf.constant(cells), tf.constant(cells)], labels))
    average_penalty = float(model._independence_loss([averaged, averaged], labels))
    assert average_penalty < 1e-6
    assert cell_penalty > 0.01
    # Each cell is a sample with its image's labels: the same as flattening by hand.
    flat = cells.reshape(-1, 3)
    expected = sum(float(objectives.conditional_hsic(flat, np.repeat(labels[j], 4), np.repeat(labels[i], 4), 2, 2))
                   for i, j in model.adversary_pairs)
    assert cell_penalty == pytest.approx(expected, rel=1e-5)


def test_block_maps_add_one_term_per_block_on_top_of_the_features():
    data = build_random_data(("a", "b"), count=16)
    images, labels = _batch(data)
    base = build_tiny_model(("a", "b"))
    losses = {}
    for layers in ("features", "blocks", "block_maps", "block_pyramid"):
        model = clone_model(base)
        variables = len(model.weights)
        model.compile(optimizer=keras.optimizers.SGD(0.0), independence_weight=1.0, independence_layers=layers,
                      adversary_steps=0, adversary_batches="same", run_eagerly=True)  # one step each
        assert len(model.weights) == variables
        losses[layers] = float(model.train_on_batch(images, labels, return_dict=True)["independence_loss"])
    labels_list = [labels["a"], labels["b"]]
    maps = [tap(images, training=True)[:-1] for tap in model._block_taps]
    expected = losses["features"] + sum(
        float(model._independence_loss([grid_cells(maps[0][k]), grid_cells(maps[1][k])], labels_list))
        for k in range(len(maps[0])))
    assert losses["block_maps"] == pytest.approx(expected, rel=1e-4)
    assert losses["block_maps"] != pytest.approx(losses["blocks"], rel=1e-3)
    # The pyramid adds, per block, both the global average's term and the cells' term.
    averages = sum(float(model._independence_loss([ops.mean(maps[0][k], axis=(1, 2)),
                                                   ops.mean(maps[1][k], axis=(1, 2))], labels_list))
                   for k in range(len(maps[0])))
    assert losses["blocks"] == pytest.approx(losses["features"] + averages, rel=1e-4)
    assert losses["block_pyramid"] == pytest.approx(expected + averages, rel=1e-4)


def test_block_maps_penalty_reaches_the_stem_and_descending_it_lowers_it():
    data = build_random_data(("a", "b"), count=16)
    images, labels = _batch(data)
    model = build_tiny_model(("a", "b"))
    model.compile(independence_weight=1.0, independence_layers="block_maps", adversary_steps=0)
    labels_list = [labels["a"], labels["b"]]
    stem = model.encoders[0].get_layer("stem_conv").kernel

    def penalty():
        features, blocks = model.encode(images, training=False, with_blocks="block_maps")
        loss = model._independence_loss(features, labels_list)
        for level in zip(*blocks):
            loss += model._independence_loss(list(level), labels_list)
        return loss

    with tf.GradientTape() as tape:
        before = penalty()
    variables = model.encoder_variables
    gradients = tape.gradient(before, variables)
    stem_gradient = next(g for v, g in zip(variables, gradients) if v is stem)
    assert float(tf.norm(stem_gradient)) > 0
    for variable, gradient in zip(variables, gradients):
        if gradient is not None:
            variable.assign_sub(0.05 * gradient)
    assert float(penalty()) < float(before)
