"""The model under Keras's own fit arguments and callbacks.

Sample and class weights, missing labels, ``validation_split``, one-hot labels, the
``loss`` / ``val_loss`` that Keras's callbacks monitor at their defaults, and
``model.export``.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import build_random_data, build_tiny_model, clone_model
from disentangle_tf.models import MISSING_LABEL


def log_softmax(logits):
    logits = np.asarray(logits, dtype=np.float64)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def compiled(model, **overrides):
    arguments = {"adversarial_weight": 0.1, "adversary_steps": 2, "adversary_batches": "same",
                 "run_eagerly": True, **overrides}
    model.compile(**arguments)
    return model


def weights_after_fit(model, images, labels, **fit_arguments):
    model.fit(images, labels, batch_size=len(images), epochs=1, shuffle=False, verbose=0, **fit_arguments)
    return [v.numpy().copy() for v in model.trainable_variables]


def assert_same(first, second, atol=1e-6):
    for a, b in zip(first, second):
        np.testing.assert_allclose(a, b, rtol=0, atol=atol)


def differ(first, second) -> bool:
    return any(not np.allclose(a, b, rtol=0, atol=1e-7) for a, b in zip(first, second))


@pytest.fixture
def data():
    return build_random_data(("a", "b"), count=8, seed=4)


# ------------------------------------------------------------------- weights
def test_a_zero_weight_example_moves_nothing_whatever_its_label(data):
    """Changing the labels of an example of weight 0 changes no weight of the update."""
    model = compiled(build_tiny_model(("a", "b"), l2_weight=0.0))
    twin, plain, plain_twin = (compiled(clone_model(model)) for _ in range(3))
    weights = np.ones(len(data), np.float32)
    weights[[1, 5]] = 0.0
    relabelled = {task: values.copy() for task, values in data.labels.items()}
    for task, values in relabelled.items():
        values[[1, 5]] = (values[[1, 5]] + 1) % model.tasks[model.task_names.index(task)].num_classes
    first = weights_after_fit(model, data.images, data.labels, sample_weight=weights)
    second = weights_after_fit(twin, data.images, relabelled, sample_weight=weights)
    assert_same(first, second)
    # With weight 1 the relabelled examples do change the update.
    assert differ(weights_after_fit(plain, data.images, data.labels),
                  weights_after_fit(plain_twin, data.images, relabelled))


def test_sample_weights_of_zero_everywhere_leave_the_trainable_weights_as_they_were(data):
    model = compiled(build_tiny_model(("a", "b"), l2_weight=0.0))
    before = [v.numpy().copy() for v in model.trainable_variables]
    after = weights_after_fit(model, data.images, data.labels, sample_weight=np.zeros(len(data)))
    assert_same(before, after, atol=0)


def test_class_weight_zero_is_the_same_as_zero_sample_weight_for_that_class(data):
    model = compiled(build_tiny_model(("a", "b"), l2_weight=0.0))
    twin = compiled(clone_model(model))
    unweighted = compiled(clone_model(model))
    by_class = weights_after_fit(model, data.images, data.labels, class_weight={"a": {0: 0.0}})
    by_example = weights_after_fit(twin, data.images, data.labels,
                                   sample_weight={"a": (data.labels["a"] != 0).astype("float32"),
                                                  "b": np.ones(len(data), "float32")})
    assert_same(by_class, by_example)
    assert differ(by_class, weights_after_fit(unweighted, data.images, data.labels))


def test_a_missing_label_is_left_out_of_the_task_loss_and_accuracy(data):
    model = compiled(build_tiny_model(("a", "b")))
    labels = {task: values.copy() for task, values in data.labels.items()}
    labels["a"][[0, 3, 6]] = MISSING_LABEL
    results = model.evaluate(data.images, labels, batch_size=len(data), verbose=0, return_dict=True)
    logits = keras.ops.convert_to_numpy(model(data.images)["a"])
    given = labels["a"] >= 0
    cross_entropy = -log_softmax(logits)[np.flatnonzero(given), labels["a"][given]]
    # Keras's weighted mean convention: the sum over labelled examples over the batch size.
    np.testing.assert_allclose(results["a_loss"], cross_entropy.sum() / len(data), rtol=1e-5)
    accuracy = np.mean(logits.argmax(-1)[given] == labels["a"][given])
    np.testing.assert_allclose(results["a_accuracy"], accuracy, rtol=1e-6)


def test_class_weight_for_a_one_task_model_may_be_the_inner_dict():
    data = build_random_data(("a",), count=8, seed=2)
    model = compiled(build_tiny_model(("a",), l2_weight=0.0), adversarial_weight=0.0, adversary_steps=0)
    twin = compiled(clone_model(model), adversarial_weight=0.0, adversary_steps=0)
    assert_same(weights_after_fit(model, data.images, data.labels, class_weight={1: 0.0}),
                weights_after_fit(twin, data.images, data.labels, sample_weight=(data.labels["a"] != 1) * 1.0))


def test_a_dataset_may_carry_sample_weights(data):
    model = compiled(build_tiny_model(("a", "b"), l2_weight=0.0))
    before = [v.numpy().copy() for v in model.trainable_variables]
    dataset = tf.data.Dataset.from_tensor_slices(
        (data.images, dict(data.labels), np.zeros(len(data), np.float32))).batch(4)
    model.fit(dataset, epochs=1, verbose=0)
    assert_same(before, [v.numpy() for v in model.trainable_variables], atol=0)


# ------------------------------------------------------------------- labels
def test_one_hot_labels_train_as_class_indices(data):
    model = compiled(build_tiny_model(("a", "b")))
    twin = compiled(clone_model(model))
    one_hot = {task: np.eye(spec.num_classes)[data.labels[task]] for task, spec in zip(model.task_names, model.tasks)}
    assert_same(weights_after_fit(model, data.images, data.labels),
                weights_after_fit(twin, data.images, one_hot))


@pytest.mark.parametrize("change, message", [
    (lambda x, y: (np.repeat(x, 3, axis=-1), y), r"images: expected shape \(N, 16, 16, 1\), got \(N, 16, 16, 3\)"),
    (lambda x, y: (x, {**y, "a": y["a"] - 2}), r"labels\['a'\]: class indices must be in \[0, 2\)"),
    (lambda x, y: (x, {**y, "b": y["b"] + 3}), r"labels\['b'\]: class indices must be in \[0, 3\)"),
    (lambda x, y: (x, {"a": y["a"]}), r"labels: missing task 'b'"),
    (lambda x, y: (x, {**y, "c": y["a"]}), r"labels: no task 'c' in this model; expected keys \['a', 'b'\]"),
    (lambda x, y: (x, {**y, "a": y["a"][:5]}), r"labels\['a'\]: expected integer class indices of shape \(8,\)"),
    (lambda x, y: (x, {**y, "a": y["a"] + 0.5}), r"labels\['a'\]: expected integer class indices"),
    (lambda x, y: (x, {**y, "a": np.full((8, 2), 0.5)}), r"labels\['a'\]: a 2-D label array must be one-hot"),
])
def test_data_that_do_not_fit_the_model_are_refused_in_one_line(data, change, message):
    model = compiled(build_tiny_model(("a", "b")))
    images, labels = change(data.images, dict(data.labels))
    with pytest.raises(ValueError, match=message) as caught:
        model.fit(images, labels, epochs=1, verbose=0)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("arguments, message", [
    ({"sample_weight": -np.ones(8)}, r"sample_weight: weights must be finite and >= 0"),
    ({"sample_weight": np.ones(5)}, r"sample_weight: expected shape \(8,\)"),
    ({"sample_weight": {"c": np.ones(8)}}, r"sample_weight\['c'\]: not a task"),
    ({"class_weight": {"c": {0: 1.0}}}, r"class_weight: 'c' is not a task"),
    ({"class_weight": {"a": {2: 1.0}}}, r"class_weight\['a'\]: class 2 is not in \[0, 2\)"),
    ({"class_weight": {"a": {0: float("nan")}}}, r"class_weight\['a'\]\[0\]: expected a finite weight"),
    ({"class_weight": {0: 1.0}}, r"class_weight: this model has several tasks"),
    ({"validation_split": 1.5}, r"validation_split: expected a fraction in \[0, 1\)"),
])
def test_weights_and_options_that_cannot_work_are_refused(data, arguments, message):
    model = compiled(build_tiny_model(("a", "b")))
    with pytest.raises(ValueError, match=message):
        model.fit(data.images, data.labels, epochs=1, verbose=0, **arguments)


def test_a_dataset_of_the_wrong_image_size_is_refused_before_training(data):
    model = compiled(build_tiny_model(("a", "b")))
    dataset = tf.data.Dataset.from_tensor_slices((data.images[:, :8], dict(data.labels))).batch(4)
    with pytest.raises(ValueError, match=r"images: expected shape \(N, 16, 16, 1\), got \(N, 8, 16, 1\)"):
        model.fit(dataset, epochs=1, verbose=0)


def test_a_dataset_with_labels_of_another_task_is_refused_before_training(data):
    model = compiled(build_tiny_model(("a", "b")))
    before = [v.numpy().copy() for v in model.trainable_variables]
    labels = {**data.labels, "c": data.labels["a"]}
    dataset = tf.data.Dataset.from_tensor_slices((data.images, labels)).batch(4)
    with pytest.raises(ValueError, match=r"^dataset: labels: no task 'c' in this model"):
        model.fit(dataset, epochs=1, verbose=0)
    assert not differ(before, [v.numpy() for v in model.trainable_variables])


# ------------------------------------------------------------------- fit arguments and callbacks
def test_validation_split_holds_out_the_last_examples():
    data = build_random_data(("a", "b"), count=10, seed=1)
    model = compiled(build_tiny_model(("a", "b")))
    history = model.fit(data.images, data.labels, batch_size=2, epochs=1, verbose=0, validation_split=0.2)
    assert "val_loss" in history.history
    # Eight training examples in batches of two: four steps of the main optimizer.
    assert int(model.optimizer.iterations) == 4
    held_out = model.evaluate(data.images[8:], {t: v[8:] for t, v in data.labels.items()}, verbose=0,
                              return_dict=True)
    np.testing.assert_allclose(history.history["val_loss"][0], held_out["loss"], rtol=1e-5)


def test_logs_carry_loss_the_sum_of_the_task_losses(data):
    model = compiled(build_tiny_model(("a", "b")))
    history = model.fit(data.images, data.labels, batch_size=8, epochs=1, verbose=0,
                        validation_data=(data.images, data.labels))
    for prefix in ("", "val_"):
        np.testing.assert_allclose(history.history[f"{prefix}loss"][0],
                                   history.history[f"{prefix}a_loss"][0] + history.history[f"{prefix}b_loss"][0],
                                   rtol=1e-5)


def test_keras_callbacks_act_at_their_default_monitor(data, tmp_path):
    model = compiled(build_tiny_model(("a", "b")))
    validation = (data.images, data.labels)
    # An improvement no loss can make: EarlyStopping stops as soon as it may (after the
    # second epoch; Keras never stops after the first) only if it finds val_loss.
    history = model.fit(data.images, data.labels, batch_size=4, epochs=5, verbose=0, validation_data=validation,
                        callbacks=[keras.callbacks.EarlyStopping(patience=0, min_delta=1e9)])
    assert len(history.history["loss"]) == 2

    path = tmp_path / "best.weights.h5"
    model.fit(data.images, data.labels, batch_size=4, epochs=1, verbose=0, validation_data=validation,
              callbacks=[keras.callbacks.ModelCheckpoint(str(path), save_best_only=True, save_weights_only=True)])
    assert path.is_file()

    start = float(model.optimizer.learning_rate.numpy())
    model.fit(data.images, data.labels, batch_size=4, epochs=3, verbose=0, validation_data=validation,
              callbacks=[keras.callbacks.ReduceLROnPlateau(patience=0, factor=0.5, min_delta=1e9)])
    assert float(model.optimizer.learning_rate.numpy()) < start


@pytest.mark.keras_internals
def test_keras_export_serves_the_model_logits(data, tmp_path):
    model = compiled(build_tiny_model(("a", "b")))
    model.export(str(tmp_path / "exported"), verbose=False)
    served = keras.layers.TFSMLayer(str(tmp_path / "exported"), call_endpoint="serve")(data.images)
    expected = model(data.images)
    for task in model.task_names:
        np.testing.assert_allclose(keras.ops.convert_to_numpy(served[task]),
                                   keras.ops.convert_to_numpy(expected[task]), rtol=1e-5, atol=1e-5)


# ------------------------------------------------------------------- compile and import
def test_optimizer_names_mean_what_they_mean_in_keras():
    model = build_tiny_model(("a", "b"))
    model.compile(optimizer="adam", adversary_optimizer="sgd")
    defaults = keras.optimizers.Adam()
    assert (model.optimizer.beta_1, model.optimizer.beta_2, model.optimizer.epsilon) == (
        defaults.beta_1, defaults.beta_2, defaults.epsilon)
    assert model.adversary_optimizer.momentum == keras.optimizers.SGD().momentum == 0.0
    model.compile()  # "auto": the authors' settings
    assert (model.optimizer.beta_1, model.optimizer.beta_2, model.optimizer.epsilon) == (0.0, 0.9, 1e-5)
    assert model.adversary_optimizer.momentum == 0.9


def test_another_keras_backend_is_refused_at_import_in_one_line():
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-c", "import disentangle_tf"], capture_output=True, text=True,
                            env={"KERAS_BACKEND": "jax", "PATH": "/usr/bin:/bin"}, timeout=120)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1] == (
        "ImportError: disentangle_tf needs Keras's TensorFlow backend; Keras is set to 'jax': "
        "set KERAS_BACKEND=tensorflow")


def test_a_plateau_reduction_moves_the_adversary_learning_rate_too(data):
    from disentangle_tf.run.callbacks import AdversaryLearningRate

    model = compiled(build_tiny_model(("a", "b")))
    main, adversary = float(model.optimizer.learning_rate.numpy()), float(model.adversary_optimizer.learning_rate.numpy())
    model.fit(data.images, data.labels, batch_size=4, epochs=3, verbose=0, validation_data=(data.images, data.labels),
              callbacks=[keras.callbacks.ReduceLROnPlateau(patience=0, factor=0.5, min_delta=1e9),
                         AdversaryLearningRate()])
    reduced = float(model.optimizer.learning_rate.numpy())
    assert reduced < main
    np.testing.assert_allclose(float(model.adversary_optimizer.learning_rate.numpy()), reduced * adversary / main,
                               rtol=1e-6)
