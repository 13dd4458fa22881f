"""The class-conditional HSIC penalty and its place in the training step."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from conftest import values
from disentangle_tf.models.objectives import conditional_hsic, gaussian_kernel


def _hsic(features, other, own, own_classes=2, other_classes=2) -> float:
    return float(conditional_hsic(tf.constant(features, tf.float32), tf.constant(other), tf.constant(own),
                                  own_classes, other_classes))


def _correlated_labels(rng, n=200):
    """Own and other labels that agree 80% of the time (as shape and background do)."""
    own = rng.integers(0, 2, n)
    other = np.where(rng.random(n) < 0.8, own, 1 - own)
    return own, other


def test_gaussian_kernel_has_unit_diagonal_and_median_bandwidth():
    rng = np.random.default_rng(0)
    kernel = gaussian_kernel(tf.constant(rng.normal(size=(20, 5)), tf.float32)).numpy()
    np.testing.assert_allclose(np.diag(kernel), 1.0, atol=1e-5)
    off_diagonal = kernel[~np.eye(20, dtype=bool)]
    # Half of the off-diagonal entries lie at or above exp(-1/2) (the median distance).
    assert np.isclose(np.median(off_diagonal), np.exp(-0.5), atol=0.05)


def test_independent_data_give_near_zero():
    rng = np.random.default_rng(0)
    own, other = _correlated_labels(rng)
    features = rng.normal(size=(200, 16))
    assert _hsic(features, other, own) < 0.01


def test_features_encoding_the_other_label_within_a_class_give_clearly_positive():
    rng = np.random.default_rng(1)
    own, other = _correlated_labels(rng)
    features = rng.normal(size=(200, 16)) * 0.1
    features[:, 0] += 3.0 * other
    independent = _hsic(rng.normal(size=(200, 16)), other, own)
    leaking = _hsic(features, other, own)
    assert leaking > 0.02
    assert leaking > 10 * independent


def test_dependence_explained_by_the_own_label_is_not_penalised():
    rng = np.random.default_rng(2)
    own, other = _correlated_labels(rng)
    features = rng.normal(size=(200, 16)) * 0.1
    features[:, 0] += 3.0 * own  # the own label only
    # Unconditionally the features predict the other label (through the own label) ...
    unconditional = _hsic(features, other, np.zeros_like(own), own_classes=1)
    assert unconditional > 0.02
    # ... but within each own class they say nothing about it.
    assert _hsic(features, other, own) < 0.01
    assert _hsic(features, other, own) < unconditional / 10


def test_classes_absent_from_the_batch_and_singletons_are_harmless():
    rng = np.random.default_rng(3)
    own = np.array([0] * 10 + [2])  # class 1 absent, class 2 a single example
    other = rng.integers(0, 2, 11)
    value = _hsic(rng.normal(size=(11, 4)), other, own, own_classes=3)
    assert np.isfinite(value) and value >= 0


def test_gradient_flows_to_the_features():
    rng = np.random.default_rng(4)
    own, other = _correlated_labels(rng, n=40)
    features = tf.Variable(rng.normal(size=(40, 8)).astype("float32") + other[:, None])
    with tf.GradientTape() as tape:
        value = conditional_hsic(features, tf.constant(other), tf.constant(own), 2, 2)
    gradient = tape.gradient(value, features)
    assert value.dtype == tf.float32
    assert gradient is not None
    assert np.all(np.isfinite(gradient.numpy())) and np.abs(gradient.numpy()).max() > 0


def test_training_step_with_independence_weight_moves_encoders_and_reports(tiny_model, random_data):
    model = tiny_model()
    model.compile(adversarial_weight=0.0, adversary_steps=1, adversary_batches="same",
                  independence_weight=5.0)
    data = random_data(count=16)
    before = values(model.encoder_variables)
    logs = model.train_on_batch(data.images, data.labels, return_dict=True)
    after = values(model.encoder_variables)
    assert "independence_loss" in logs and np.isfinite(logs["independence_loss"])
    assert logs["independence_loss"] >= 0
    assert any(not np.allclose(a, b) for a, b in zip(before, after))
    assert model.get_compile_config()["independence_weight"] == 5.0


def test_the_penalty_alone_moves_the_encoders(tiny_model, random_data):
    model = tiny_model()
    data = random_data(count=16)
    model.compile(independence_weight=1.0)
    labels = [tf.constant(data.labels[t]) for t in model.task_names]
    with tf.GradientTape() as tape:
        features = [encoder(tf.constant(data.images), training=True) for encoder in model.encoders]
        loss = model._independence_loss(features, labels)
    gradients = tape.gradient(loss, [v for e in model.encoders for v in e.trainable_variables])
    assert any(g is not None and float(tf.reduce_max(tf.abs(g))) > 0 for g in gradients)


def test_metric_absent_when_off(tiny_model, random_data):
    model = tiny_model()
    model.compile(adversary_steps=1, adversary_batches="same")
    data = random_data(count=8)
    logs = model.train_on_batch(data.images, data.labels, return_dict=True)
    assert "independence_loss" not in logs


def test_negative_weight_is_refused(tiny_model):
    with pytest.raises(ValueError, match="independence_weight"):
        tiny_model().compile(independence_weight=-1.0)


def _separated(rng, separation, n=60):
    """Own classes ``separation`` apart along one axis; within each, the other label moves two axes by 1."""
    own = np.repeat([0, 1], n // 2)
    other = rng.integers(0, 2, n)
    features = rng.normal(size=(n, 8)) * 0.5
    features[:, 1] += other
    features[:, 2] -= other
    features[:, 0] += separation * own
    return features.astype("float32"), other, own


def _value_and_gradient(features, other, own, bandwidth):
    variable = tf.Variable(features)
    with tf.GradientTape() as tape:
        value = conditional_hsic(variable, tf.constant(other), tf.constant(own), 2, 2, bandwidth=bandwidth)
    return float(value), tape.gradient(value, variable).numpy()


def test_class_bandwidth_penalty_does_not_vanish_when_classes_separate():
    # Learning the own task moves its classes apart; the within-class dependence on the
    # other label is the same whatever the distance, and so must be the penalty and its
    # gradient, which drives the encoder.
    rng = np.random.default_rng(5)
    features, other, own = _separated(rng, 0.0)
    near_value, near_gradient = _value_and_gradient(features, other, own, "class")
    far = features.copy()
    far[:, 0] += 100.0 * own
    far_value, far_gradient = _value_and_gradient(far, other, own, "class")
    assert near_value > 0.02
    np.testing.assert_allclose(far_value, near_value, rtol=1e-3)
    np.testing.assert_allclose(far_gradient, near_gradient, rtol=1e-2, atol=1e-6)
    # The batch-wide median does vanish there: that is why it is not the default.
    batch_value, batch_gradient = _value_and_gradient(far, other, own, "batch")
    assert batch_value < near_value / 100
    assert np.linalg.norm(batch_gradient) < np.linalg.norm(far_gradient) / 100


def test_class_bandwidth_gradient_descent_removes_the_dependence():
    rng = np.random.default_rng(6)
    features, other, own = _separated(rng, 50.0)
    variable = tf.Variable(features)
    start = float(conditional_hsic(variable, tf.constant(other), tf.constant(own), 2, 2))
    for _ in range(50):
        with tf.GradientTape() as tape:
            value = conditional_hsic(variable, tf.constant(other), tf.constant(own), 2, 2)
        variable.assign_sub(20.0 * tape.gradient(value, variable))
    end = float(conditional_hsic(variable, tf.constant(other), tf.constant(own), 2, 2))
    assert end < start / 3
    # The mean gap between the other label's groups within a class shrinks along axis 1.
    moved = variable.numpy()
    gap = [abs(moved[(own == c) & (other == 1), 1].mean() - moved[(own == c) & (other == 0), 1].mean())
           for c in (0, 1)]
    assert max(gap) < 0.8


def test_class_median_bandwidth_is_the_within_class_median():
    # Kernel entries within a class: half of the class's n**2 pairs lie at or beyond the
    # median distance, where the kernel is at most exp(-1/2).
    from disentangle_tf.models.objectives import _masked_median, squared_distances

    rng = np.random.default_rng(7)
    features = rng.normal(size=(30, 4)).astype("float32")
    mask = np.zeros(30, "float32")
    mask[:11] = 1.0
    squared = squared_distances(tf.constant(features)).numpy()
    expected = np.sort(squared[:11, :11].reshape(-1))[121 // 2]
    assert float(_masked_median(tf.constant(squared), tf.constant(mask))) == pytest.approx(expected, rel=1e-6)


def test_unknown_bandwidth_is_refused(tiny_model):
    with pytest.raises(ValueError, match="bandwidth"):
        conditional_hsic(tf.zeros((4, 2)), tf.zeros(4, tf.int32), tf.zeros(4, tf.int32), 1, 2, bandwidth="global")
    with pytest.raises(ValueError, match="independence_bandwidth"):
        tiny_model().compile(independence_bandwidth="global")


def test_every_objective_name_the_configuration_offers_has_its_function():
    from disentangle_tf.models.defaults import ADVERSARIAL_OBJECTIVES
    from disentangle_tf.models.objectives import OBJECTIVES, maximize_cross_entropy, uniform

    assert tuple(OBJECTIVES) == ADVERSARIAL_OBJECTIVES
    assert OBJECTIVES["maximize_cross_entropy"] is maximize_cross_entropy and OBJECTIVES["uniform"] is uniform
