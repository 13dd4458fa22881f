"""Encoders, classifiers and adversaries of one's own: built, trained, saved, loaded, exported."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from disentangle_tf.models import DenseHead, Disentangler, ResidualEncoder, TaskSpec

TASKS = [TaskSpec("a", 2), TaskSpec("b", 3)]
SHAPE = (16, 16, 1)


def small_encoder(task, width=6):
    return keras.Sequential(
        [keras.Input(SHAPE), keras.layers.Conv2D(4, 3, strides=2), keras.layers.BatchNormalization(),
         keras.layers.ReLU(), keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(width)],
        name=f"{task.name}_small_encoder",
    )


def data(count=12, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.normal(size=(count, *SHAPE)).astype("float32")
    return images, {"a": np.arange(count) % 2, "b": np.arange(count) % 3}


def fit_save_and_load(model, images, labels, batch_size, encoder, path):
    """Fit one epoch (the ``encoder``-th encoder's weights must move), save, load; the loaded model,
    whose weights must equal the saved ones."""
    before = [v.numpy().copy() for v in model.encoders[encoder].trainable_variables]
    model.fit(images, labels, batch_size=batch_size, epochs=1, verbose=0)
    assert any(not np.array_equal(b, v.numpy()) for b, v in zip(before, model.encoders[encoder].trainable_variables))
    model.save(path)
    loaded = keras.models.load_model(path)
    for saved, restored in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(saved, restored)
    return loaded


def test_heads_are_sized_from_each_encoders_features():
    encoders = {"a": small_encoder(TASKS[0], width=6), "b": small_encoder(TASKS[1], width=10)}
    model = Disentangler(TASKS, encoders=encoders, head_units=(8,))
    assert model.image_shape == SHAPE  # read from the encoders
    assert model.encoders[0] is encoders["a"] and model.encoders[1] is encoders["b"]
    assert [head.input_dim for head in model.classifiers] == [6, 10]
    # Adversary a -> b reads a's 6 features, b -> a reads b's 10.
    assert [head.input_dim for head in model.adversaries] == [6, 10]
    logits = model(np.zeros((2, *SHAPE), "float32"))
    assert logits["a"].shape == (2, 2) and logits["b"].shape == (2, 3)


@pytest.mark.keras_internals
def test_a_custom_encoder_trains_saves_and_loads_with_its_weights(tmp_path):
    images, labels = data()
    model = Disentangler(TASKS, encoders=small_encoder, head_units=(8,))
    model.compile(adversary_batches="same", adversary_steps=1)
    loaded = fit_save_and_load(model, images, labels, 6, 0, tmp_path / "model.keras")
    assert type(loaded.encoders[0]) is keras.Sequential  # not rebuilt as the paper's encoder
    assert loaded.encoders[0].name == "a_small_encoder"
    expected, got = model(images), loaded(images)
    for task in model.task_names:
        np.testing.assert_allclose(keras.ops.convert_to_numpy(got[task]),
                                   keras.ops.convert_to_numpy(expected[task]), rtol=0, atol=1e-6)

    model.export(str(tmp_path / "exported"), verbose=False)
    served = keras.layers.TFSMLayer(str(tmp_path / "exported"), call_endpoint="serve")(images)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(served["b"]), keras.ops.convert_to_numpy(expected["b"]),
                               rtol=1e-5, atol=1e-5)


@pytest.mark.keras_internals
def test_given_heads_are_used_and_saved(tmp_path):
    classifiers = [DenseHead(6, 2, units=(4,), name="head_a"), DenseHead(6, 3, units=(), name="head_b")]
    model = Disentangler(TASKS, encoders=small_encoder, classifiers=classifiers)
    assert model.classifiers[0] is classifiers[0]
    model.save(tmp_path / "model.keras")
    loaded = keras.models.load_model(tmp_path / "model.keras")
    assert [head.name for head in loaded.classifiers] == ["head_a", "head_b"]


def test_the_paper_encoder_stays_the_default():
    model = Disentangler.from_paper(TASKS, SHAPE, encoder_filters=(4,), encoder_strides=(2,), head_units=(8,))
    assert all(isinstance(encoder, ResidualEncoder) for encoder in model.encoders)
    assert model.get_config()["encoders"] is None


@pytest.mark.parametrize("arguments, error, message", [
    ({"encoders": [small_encoder(TASKS[0])]}, ValueError, r"encoders: expected one model per task \['a', 'b'\]"),
    ({"encoders": {"a": small_encoder(TASKS[0]), "c": small_encoder(TASKS[1])}}, ValueError,
     r"encoders: expected one model per task"),
    ({"encoders": [keras.layers.Dense(3), keras.layers.Dense(3)]}, TypeError,
     r"encoders: the model of task 'a' must be a keras.Model"),
    ({"encoders": lambda task: keras.Sequential([keras.Input(SHAPE), keras.layers.Conv2D(2, 3)])}, ValueError,
     r"expected \(batch, features\): end it with a pooling or flattening layer"),
    ({}, ValueError, r"input_shape: required when the model builds its own encoders"),
])
def test_models_that_cannot_work_are_refused(arguments, error, message):
    with pytest.raises(error, match=message):
        Disentangler(TASKS, **arguments)


def test_one_model_object_for_two_tasks_is_refused():
    shared = small_encoder(TASKS[0])
    with pytest.raises(ValueError, match="every task needs its own model"):
        Disentangler(TASKS, encoders=[shared, shared])


def test_a_keras_applications_backbone_trains_saves_loads_and_exports(tmp_path):
    shape = (32, 32, 1)

    def backbone(task):
        # Random weights (nothing downloaded), one grey channel, the package's z-scored inputs.
        return keras.applications.MobileNetV3Small(
            input_shape=shape, weights=None, include_top=False, pooling="avg", include_preprocessing=False,
            minimalistic=True, alpha=0.75, name=f"{task.name}_mobilenet")

    rng = np.random.default_rng(0)
    images = rng.normal(size=(8, *shape)).astype("float32")
    labels = {"a": np.arange(8) % 2, "b": np.arange(8) % 3}
    model = Disentangler(TASKS, encoders=backbone, head_units=(8,))
    model.compile(adversary_batches="same", adversary_steps=1, run_eagerly=True)  # two steps: not worth tracing
    loaded = fit_save_and_load(model, images, labels, 4, 1, tmp_path / "model.keras")
    assert loaded.encoders[0].name == "a_mobilenet"
    model.export(str(tmp_path / "exported"), verbose=False)
    served = keras.layers.TFSMLayer(str(tmp_path / "exported"), call_endpoint="serve")(images)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(served["a"]),
                               keras.ops.convert_to_numpy(model(images)["a"]), rtol=1e-4, atol=1e-4)
