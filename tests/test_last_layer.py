"""Last-layer retraining: balanced weights, the refit folded into the head, what it leaves alone."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from conftest import build_random_data, build_tiny_model, small_synthetic, values
from disentangle_tf.models.last_layer import balanced_weights, last_dense_inputs, retrain_last_layer


def test_class_group_weights_balance_classes_then_groups():
    # Task "a": class 0 in 6 images (4 with b=0, 2 with b=1), class 1 in 2 images (b=0), one missing.
    labels = {"a": np.array([0, 0, 0, 0, 0, 0, 1, 1, -1]), "b": np.array([0, 0, 0, 0, 1, 1, 0, 0, 1])}
    w = balanced_weights(labels, "a", "class_group")
    assert w[8] == 0
    assert w.sum() == pytest.approx(8)
    # Each class carries half the weight; within class 0 each group a quarter.
    assert w[:6].sum() == pytest.approx(4) and w[6:8].sum() == pytest.approx(4)
    assert w[:4].sum() == pytest.approx(2) and w[4:6].sum() == pytest.approx(2)
    np.testing.assert_allclose(w[:4], 0.5)
    np.testing.assert_allclose(w[4:6], 1.0)
    np.testing.assert_allclose(w[6:8], 2.0)
    by_class = balanced_weights(labels, "a", "class")
    np.testing.assert_allclose(by_class[:8], [4 / 6] * 6 + [2.0] * 2)
    np.testing.assert_allclose(balanced_weights(labels, "a", "none"), [1] * 8 + [0])


def test_bad_arguments_are_refused():
    labels = {"a": np.array([0, 1]), "b": np.array([-1, -1])}
    with pytest.raises(ValueError, match="balance"):
        balanced_weights(labels, "a", "groups")
    with pytest.raises(ValueError, match="no labelled example"):
        balanced_weights(labels, "b")
    model = build_tiny_model(("a", "b"))
    data = build_random_data(("a", "b"), count=8)
    with pytest.raises(ValueError, match="c must be > 0"):
        retrain_last_layer(model, data.images, data.labels, c=0)
    with pytest.raises(ValueError, match="last layer is a keras.layers.Dense"):
        last_dense_inputs(keras.Sequential([keras.Input((4,)), keras.layers.Dense(2), keras.layers.Softmax()]))


def _features(model, images, task_index):
    inputs = last_dense_inputs(model.classifiers[task_index])
    return np.asarray(inputs(model.encoders[task_index](images, training=False), training=False))


def test_refit_fixes_a_head_that_ignores_the_features():
    model = build_tiny_model(("a", "b"))
    data = build_random_data(("a", "b"), count=64, seed=1)
    # Labels a linear function of the frozen network's last-layer inputs can fit.
    h = _features(model, data.images, 0)
    direction = np.random.default_rng(0).normal(size=h.shape[1])
    score = h @ direction
    data.labels["a"] = (score > np.median(score)).astype("int64")
    head = model.classifiers[0].layers[-1]
    head.kernel.assign(np.zeros_like(head.kernel.numpy()))
    head.bias.assign(np.array([5.0, -5.0], "float32"))  # predicts class 0 whatever the image
    before_encoders = values([v for e in model.encoders for v in e.weights])
    before_b = values(model.classifiers[1].weights)
    accuracy = retrain_last_layer(model, data.images, data.labels, batch_size=16, c=100.0)
    predicted = np.argmax(np.asarray(model(data.images)["a"]), axis=-1)
    assert np.mean(predicted == data.labels["a"]) >= 0.95
    assert accuracy["a"] == pytest.approx(np.mean(predicted == data.labels["a"]), abs=1e-6)
    # Only the classifiers' last layers moved: encoders untouched; "b" refitted in its last layer only.
    assert all(np.array_equal(a, b) for a, b in zip(before_encoders, values([v for e in model.encoders for v in e.weights])))
    after_b = values(model.classifiers[1].weights)
    moved = [not np.array_equal(a, b) for a, b in zip(before_b, after_b)]
    assert moved[-2:] == [True, True] and not any(moved[:-2])


def test_class_balance_moves_the_boundary_to_the_rare_class():
    model = build_tiny_model(("a", "b"))
    data = build_random_data(("a", "b"), count=80, seed=2)
    # Labels independent of the images, 9 in 10 of class 0: an unweighted fit predicts
    # class 0 almost everywhere, a class-balanced one predicts class 1 far more often.
    data.labels["a"] = (np.arange(80) % 10 == 0).astype("int64")
    rates = {}
    for balance in ("none", "class"):
        retrain_last_layer(model, data.images, data.labels, c=0.01, balance=balance)
        rates[balance] = np.mean(np.argmax(np.asarray(model(data.images)["a"]), axis=-1) == 1)
    assert rates["none"] <= 0.1 and rates["class"] >= 0.3


@pytest.mark.parametrize("label", [0, -1], ids=["one class", "no label"])
def test_a_task_with_fewer_than_two_classes_labelled_keeps_its_layer(label):
    model = build_tiny_model(("a", "b"))
    data = build_random_data(("a", "b"), count=8)
    data.labels["a"] = np.arange(8) % 2
    data.labels["b"] = np.full(8, label, "int64")
    before = values(model.classifiers[1].weights)
    accuracy = retrain_last_layer(model, data.images, data.labels)
    assert accuracy["b"] is None and accuracy["a"] is not None
    assert all(np.array_equal(a, b) for a, b in zip(before, values(model.classifiers[1].weights)))


@pytest.mark.keras_internals
def test_the_refit_survives_saving(tmp_path):
    model = build_tiny_model(("a", "b"))
    data = build_random_data(("a", "b"), count=32, seed=3)
    retrain_last_layer(model, data.images, data.labels, c=1.0)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    for task in ("a", "b"):
        np.testing.assert_allclose(np.asarray(loaded(data.images)[task]), np.asarray(model(data.images)[task]),
                                   atol=1e-5)


@pytest.mark.parametrize("enabled", [True, False])
def test_a_run_refits_after_the_batch_norm_statistics_only_when_asked(monkeypatch, enabled):
    import disentangle_tf.run.training as training
    from disentangle_tf.run.config import RunConfig

    calls = []
    monkeypatch.setattr(training, "precise_batch_norm", lambda *a, **k: calls.append("precise_batch_norm"))
    monkeypatch.setattr(training, "retrain_last_layer",
                        lambda model, images, labels, **k: calls.append(("retrain", len(images), sorted(labels))))
    # The synthetic shapes at a fifth of their size (240 training images), without the penalty:
    # the order of the steps after training is the point.
    config = RunConfig().replace({"epochs": 1, "image_size": [16, 20], "encoder_filters": [4, 8],
                                  "encoder_strides": [2, 2], "stem_filters": 4, "head_units": [8],
                                  "batch_size": 100, "threads": "tensorflow", "independence_weight": 0.0,
                                  "adversary_steps": 1, "last_layer_retraining": enabled})
    with small_synthetic():
        training.run(config, verbose=0)
    expected = ["precise_batch_norm"] + ([("retrain", 240, ["background", "shape"])] if enabled else [])
    assert calls == expected


def test_the_command_line_option_and_the_methods_decide_it():
    from disentangle_tf.run.run_settings import resolve_config

    assert resolve_config(None, {}, "recommended").training.last_layer_retraining is True
    assert resolve_config(None, {"last_layer_retraining": False}, "recommended").training.last_layer_retraining is False
    assert resolve_config(None, {}, "lambda=0").training.last_layer_retraining is False
    assert resolve_config(None, {}, "lambda=0 retrained").training.last_layer_retraining is True
