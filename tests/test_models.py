"""Tests of the models: encoder, heads, task specs and the Disentangler's training step."""

from __future__ import annotations

import inspect
import itertools

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import build_random_data, build_tiny_model, clone_model, values
from disentangle_tf.data import make_evaluation_dataset, make_training_dataset
from disentangle_tf.models import DenseHead, Disentangler, ResidualEncoder, TaskSpec, pair_name
from disentangle_tf.models import objectives


# ----------------------------------------------------------------------------- helpers
def log_softmax(logits: np.ndarray) -> np.ndarray:
    logits = np.asarray(logits, dtype=np.float64)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def cross_entropy(labels: np.ndarray, logits: np.ndarray) -> np.ndarray:
    """Per-example cross-entropy, computed in float64 with numpy."""
    return -log_softmax(logits)[np.arange(len(labels)), np.asarray(labels)]


def all_logits(model: Disentangler, images, training: bool):
    """Task logits (dict) and adversary logits (dict keyed by pair name), as numpy."""
    logits, features = model(images, training=training, return_features=True)
    names = model.task_names
    adversary = {
        name: adversary(features[names[i]], training=training)
        for adversary, name, (i, _) in zip(model.adversaries, model.adversary_names, model.adversary_pairs)
    }
    as_numpy = lambda d: {k: keras.ops.convert_to_numpy(v) for k, v in d.items()}  # noqa: E731
    return as_numpy(logits), as_numpy(adversary)


def batch_of(data, count=None):
    """``(images, labels)`` tensors of the first ``count`` examples of ``data``."""
    count = len(data) if count is None else count
    return (
        tf.constant(data.images[:count]),
        {task: tf.constant(labels[:count]) for task, labels in data.labels.items()},
    )


def changed(before, after) -> list[bool]:
    return [not np.array_equal(b, a) for b, a in zip(before, after)]


def expected_metric_names(model: Disentangler) -> set[str]:
    names = {"loss", "encoder_loss", "adversary_loss"}
    for task in model.task_names:
        names |= {f"{task}_loss", f"{task}_accuracy"}
    for pair in model.adversary_names:
        names |= {f"adversary_{pair}_loss", f"adversary_{pair}_accuracy"}
    return names


# ----------------------------------------------------------------------------- encoder / heads
@pytest.mark.parametrize("pooling", ["flatten", "average"])
@pytest.mark.parametrize(
    "input_shape, filters, strides",
    [
        ((16, 24, 3), (4, 8), (2, 2)),  # non-square input, zero-padded shortcuts
        ((16, 16, 1), (8, 4), (1, 2)),  # stride-1 block, then fewer filters (projection shortcut)
    ],
)
def test_residual_encoder_output_shape(pooling, input_shape, filters, strides):
    encoder = ResidualEncoder(input_shape, filters=filters, strides=strides, stem_filters=4,
                              feature_pooling=pooling)
    height, width, _ = input_shape
    total_stride = int(np.prod(strides))
    if pooling == "flatten":
        expected = (height // total_stride) * (width // total_stride) * filters[-1]
    else:
        expected = filters[-1]
    images = np.random.default_rng(0).normal(size=(3, *input_shape)).astype("float32")
    features = encoder(images, training=False)
    assert tuple(features.shape) == (3, expected)
    assert encoder.output_shape == (None, expected)
    assert np.all(np.isfinite(keras.ops.convert_to_numpy(features)))


def test_residual_encoder_rejects_bad_arguments():
    with pytest.raises(ValueError, match="same length"):
        ResidualEncoder((16, 16, 1), filters=(4, 8), strides=(2,))
    with pytest.raises(ValueError, match="feature_pooling"):
        ResidualEncoder((16, 16, 1), filters=(4,), strides=(2,), feature_pooling="max")


@pytest.mark.parametrize("units", [(), (8,), (8, 6)])
def test_dense_head_output_shape(units):
    head = DenseHead(12, num_classes=3, units=units)
    logits = head(np.ones((5, 12), "float32"), training=False)
    assert tuple(logits.shape) == (5, 3)
    assert head.output_shape == (None, 3)
    assert keras.backend.standardize_dtype(logits.dtype) == "float32"
    hidden = [layer for layer in head.layers if isinstance(layer, keras.layers.Dense)][:-1]
    assert [layer.units for layer in hidden] == list(units)


ENCODER_ARGUMENTS = dict(
    input_shape=[16, 24, 3], filters=[4, 8], strides=[2, 1], stem_filters=5, activation="relu",
    feature_pooling="average", l2_weight=1e-3, synchronized_batch_norm=True, name="my_encoder",
)
HEAD_ARGUMENTS = dict(input_dim=12, num_classes=4, units=[8, 6], l2_weight=1e-3,
                      synchronized_batch_norm=True, name="my_head")
MODEL_ARGUMENTS = dict(
    tasks=[
        {"name": "a", "num_classes": 2, "head_units": None, "class_names": ["x", "y"]},
        {"name": "b", "num_classes": 3, "head_units": [6], "class_names": None},
    ],
    input_shape=[16, 24, 1], encoder_filters=[4, 8], encoder_strides=[2, 2], stem_filters=3,
    activation="relu", feature_pooling="average", head_units=[7], l2_weight=1e-3,
    synchronized_batch_norm=True, conditional_adversaries=True, encoders=None, classifiers=None,
    adversaries=None, name="my_model",
)


def _constructor_parameters(cls) -> set[str]:
    signature = inspect.signature(cls.__init__)
    return {
        name for name, parameter in signature.parameters.items()
        if name != "self" and parameter.kind not in (parameter.VAR_KEYWORD, parameter.VAR_POSITIONAL)
    }


@pytest.mark.parametrize(
    "cls, arguments",
    [(ResidualEncoder, ENCODER_ARGUMENTS), (DenseHead, HEAD_ARGUMENTS), (Disentangler, MODEL_ARGUMENTS)],
    ids=["ResidualEncoder", "DenseHead", "Disentangler"],
)
@pytest.mark.keras_internals
def test_get_config_round_trip(cls, arguments):
    # Every constructor argument (all set to non-default values here) is in the config.
    assert _constructor_parameters(cls) | {"name"} == set(arguments)
    if cls is Disentangler:
        # The model's record of its training combinations is a keyword of its own (None before
        # training), kept by the config like the constructor's arguments.
        arguments = {**arguments, "training_combinations": [{"labels": [0, 2], "images": 5},
                                                            {"labels": [1, 0], "images": 3}]}
    model = cls(**arguments)
    config = model.get_config()
    assert _constructor_parameters(cls) <= set(config)
    # Keras's base config (trainable, dtype) is chained in beside the arguments.
    assert {k: v for k, v in config.items() if k not in ("trainable", "dtype")} == arguments

    restored = cls.from_config(config)
    assert restored.get_config() == config
    # The config is plain JSON: it survives a serialisation round trip unchanged.
    assert cls.from_config(keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(model)).get_config()).get_config() == config
    assert [tuple(w.shape) for w in restored.weights] == [tuple(w.shape) for w in model.weights]
    if cls is Disentangler:
        images = np.zeros((2, *arguments["input_shape"]), "float32")
        original, restored_logits = model(images), restored(images)
        assert {k: tuple(v.shape) for k, v in original.items()} == {
            k: tuple(v.shape) for k, v in restored_logits.items()
        } == {"a": (2, 2), "b": (2, 3)}
    else:
        assert restored.output_shape == model.output_shape


# ----------------------------------------------------------------------------- TaskSpec
@pytest.mark.parametrize("name", ["", "1abc", "_a", "a-b", "with space", "é", None, 3])
def test_task_spec_rejects_bad_names(name):
    with pytest.raises(ValueError, match="name"):
        TaskSpec(name, 2)


@pytest.mark.parametrize("num_classes", [1, 0, -2, 2.0, "2"])
def test_task_spec_rejects_bad_num_classes(num_classes):
    with pytest.raises(ValueError, match="num_classes"):
        TaskSpec("shape", num_classes)


@pytest.mark.parametrize("class_names", [("a",), ("a", "b", "c")])
def test_task_spec_rejects_class_names_length_mismatch(class_names):
    with pytest.raises(ValueError, match="class names"):
        TaskSpec("shape", 2, class_names=class_names)


def test_task_spec_normalises_and_round_trips():
    spec = TaskSpec("shape_2", 2, head_units=[4, 3], class_names=["circle", "rectangle"])
    assert spec.head_units == (4, 3) and spec.class_names == ("circle", "rectangle")
    assert TaskSpec.from_config(spec.get_config()) == spec


def test_disentangler_rejects_bad_task_lists():
    with pytest.raises(ValueError, match="at least one"):
        build_tiny_model(tasks=[])
    with pytest.raises(ValueError, match="unique"):
        build_tiny_model(tasks=[("a", 2), ("a", 3)])


# ----------------------------------------------------------------------------- structure / call
@pytest.mark.parametrize("tasks", [("a",), ("a", "b"), ("a", "b", "c")])
def test_disentangler_structure_and_call(tasks):
    model = build_tiny_model(tasks)
    classes = {spec.name: spec.num_classes for spec in model.tasks}
    pairs = list(itertools.permutations(tasks, 2))
    assert len(model.adversaries) == len(tasks) * (len(tasks) - 1)
    assert list(model.adversary_names) == [f"{i}_to_{j}" for i, j in pairs]
    assert list(model.adversary_names) == [pair_name(i, j) for i, j in pairs]
    if len(tasks) == 1:
        assert model.adversary_names == () and model.adversary_variables == []

    images = build_random_data(tasks, count=3).images
    logits = model(images)
    assert set(logits) == set(tasks)
    for task in tasks:
        assert tuple(logits[task].shape) == (3, classes[task])

    logits_again, features = model(images, return_features=True)
    assert set(features) == set(tasks)
    for task, encoder in zip(tasks, model.encoders):
        assert tuple(features[task].shape) == (3, encoder.output_shape[-1])
        np.testing.assert_allclose(logits_again[task], logits[task], rtol=1e-6, atol=1e-6)
    # Each adversary reads its feature task's features and predicts its label task's classes.
    for adversary, (features_task, label_task) in zip(model.adversaries, pairs):
        output = adversary(features[features_task])
        assert tuple(output.shape) == (3, classes[label_task])
    # Encoders, classifiers and adversaries are separate networks with their own variables.
    encoder_ids = {id(v) for v in model.encoder_variables}
    adversary_ids = {id(v) for v in model.adversary_variables}
    assert not encoder_ids & adversary_ids
    assert encoder_ids | adversary_ids == {id(v) for v in model.trainable_variables}


def test_single_task_model_trains_without_adversaries():
    data = build_random_data(("a",), count=8)
    model = build_tiny_model(("a",))
    model.compile(optimizer=keras.optimizers.SGD(0.05), adversary_steps=3, run_eagerly=True)
    before = values(model.encoder_variables)
    history = model.fit(data.images, data.labels, batch_size=4, epochs=1, verbose=0)
    after = values(model.encoder_variables)
    assert any(changed(before, after))
    assert int(model.optimizer.iterations) == 2
    assert int(model.adversary_optimizer.iterations) == 0
    assert set(history.history) == {"loss", "encoder_loss", "adversary_loss", "a_loss", "a_accuracy"}
    assert history.history["adversary_loss"] == [0.0]


# ----------------------------------------------------------------------------- Eq. 1 sign
def _penalty(model, objective, images, labels) -> float:
    """Sum over adversaries of the mean encoder penalty, in training mode."""
    _, adversary_logits = all_logits(model, images, training=True)
    names = model.task_names
    function = objectives.get_objective(objective)
    return float(sum(
        np.mean(keras.ops.convert_to_numpy(function(labels[names[j]], adversary_logits[pair])))
        for pair, (_, j) in zip(model.adversary_names, model.adversary_pairs)
    ))


@pytest.mark.parametrize("objective", ["maximize_cross_entropy", "uniform"])
def test_encoder_update_moves_against_the_adversaries(objective):
    """One Eq. 1 step with lambda > 0 lowers the encoder penalty more than with lambda = 0.

    For the paper's objective the penalty is minus the adversaries' cross-entropy, so the
    step raises the adversaries' cross-entropy; the adversaries are not updated
    (``adversary_steps=0``) and both models start from identical weights.
    """
    data = build_random_data(("a", "b"), count=8)
    images, labels = batch_of(data)
    base = build_tiny_model(("a", "b"))
    changes = {}
    for weight in (0.0, 20.0):
        model = clone_model(base)
        model.compile(optimizer=keras.optimizers.SGD(1e-3), adversarial_weight=weight,
                      adversary_steps=0, adversary_batches="same", adversarial_objective=objective)
        before = _penalty(model, objective, images, data.labels)
        adversaries_before = values(model.adversary_variables)
        model.train_step((images, labels))
        changes[weight] = _penalty(model, objective, images, data.labels) - before
        assert not any(changed(adversaries_before, values(model.adversary_variables)))
    assert changes[20.0] < changes[0.0]
    assert changes[20.0] < 0
    if objective == "maximize_cross_entropy":
        # The same statement in terms of the adversaries' cross-entropy (= -penalty).
        assert -changes[20.0] > -changes[0.0]


# ----------------------------------------------------------------------------- who moves
def test_encoder_update_moves_only_encoders_and_classifiers():
    data = build_random_data(("a", "b"), count=4)
    model = build_tiny_model(("a", "b"))
    model.compile(optimizer=keras.optimizers.SGD(0.1), adversarial_weight=1.0, adversary_steps=0,
                  adversary_batches="same", run_eagerly=True)
    encoders_before = [values(m.trainable_variables) for m in (*model.encoders, *model.classifiers)]
    adversaries_before = values(model.adversary_variables)
    model.fit(data.images, data.labels, batch_size=4, epochs=1, verbose=0)
    for before, network in zip(encoders_before, (*model.encoders, *model.classifiers)):
        assert any(changed(before, values(network.trainable_variables))), network.name
    assert not any(changed(adversaries_before, values(model.adversary_variables)))
    assert int(model.optimizer.iterations) == 1
    assert int(model.adversary_optimizer.iterations) == 0


def test_lambda0_step_does_not_differentiate_through_the_adversaries():
    # Adversary weights of NaN would make every encoder gradient NaN if the step
    # back-propagated the adversaries' 0-weighted penalty.
    data = build_random_data(("a", "b"), count=4)
    model = build_tiny_model(("a", "b"))
    model.compile(optimizer=keras.optimizers.SGD(0.1), adversarial_weight=0.0, adversary_steps=0,
                  adversary_batches="same")
    for variable in model.adversary_variables:
        variable.assign(tf.fill(variable.shape, float("nan")))
    before = values(model.encoder_variables)
    model.fit(data.images, data.labels, batch_size=4, epochs=1, verbose=0)
    after = values(model.encoder_variables)
    assert all(np.isfinite(v).all() for v in after)
    assert any(changed(before, after))


def test_adversary_update_moves_only_adversaries():
    data = build_random_data(("a", "b"), count=4)
    model = build_tiny_model(("a", "b"))
    model.compile(optimizer=keras.optimizers.SGD(0.0), adversary_optimizer=keras.optimizers.SGD(0.1),
                  adversarial_weight=1.0, adversary_steps=3, adversary_batches="same",
                  run_eagerly=True)
    encoders_before = values(model.encoder_variables)
    adversaries_before = [values(m.trainable_variables) for m in model.adversaries]
    model.fit(data.images, data.labels, batch_size=4, epochs=1, verbose=0)
    assert not any(changed(encoders_before, values(model.encoder_variables)))
    for before, adversary in zip(adversaries_before, model.adversaries):
        assert any(changed(before, values(adversary.trainable_variables))), adversary.name
    assert int(model.optimizer.iterations) == 1
    assert int(model.adversary_optimizer.iterations) == 3


def test_adversary_steps_lower_the_adversary_loss_on_their_batch():
    """Eq. 2 descends: repeated adversary steps on the same features lower their loss."""
    data = build_random_data(("a", "b"), count=8)
    images, labels = batch_of(data)
    model = build_tiny_model(("a", "b"), l2_weight=0.0)
    model.compile(optimizer=keras.optimizers.SGD(0.0), adversary_optimizer=keras.optimizers.SGD(0.05),
                  adversary_steps=5, adversary_batches="same")

    def adversary_cross_entropy():
        _, adversary = all_logits(model, images, training=True)
        return sum(
            cross_entropy(data.labels[model.task_names[j]], adversary[pair]).mean()
            for pair, (_, j) in zip(model.adversary_names, model.adversary_pairs)
        )

    before = adversary_cross_entropy()
    model.train_step((images, labels))
    assert adversary_cross_entropy() < before


# ----------------------------------------------------------------------------- adversary batches
def test_fresh_batches_from_training_dataset():
    # Graph mode (the default of fit), unlike most tests here, which run eagerly for speed.
    data = build_random_data(("a", "b"), count=12)
    model = build_tiny_model(("a", "b"))
    model.compile(adversary_steps=2, adversary_batches="fresh")
    dataset = make_training_dataset(data, batch_size=4, adversary_steps=2, flip=False, device=None)
    history = model.fit(dataset, epochs=1, verbose=0)
    assert int(model.optimizer.iterations) == 3
    assert int(model.adversary_optimizer.iterations) == 3 * 2
    assert all(np.isfinite(v[-1]) for v in history.history.values())


@pytest.mark.parametrize("adversary_batches", ["fresh", "same"])
def test_graph_step_loop_equals_eager_step(adversary_batches):
    # In a compiled step the adversary steps run in a tf.while_loop; eagerly they are
    # a Python loop. Both must make the same updates from the same start.
    data = build_random_data(("a", "b"), count=12)
    first = build_tiny_model(("a", "b"))
    second = clone_model(first)
    for model, eager in ((first, False), (second, True)):
        model.compile(adversarial_weight=0.5, adversary_steps=3, adversary_batches=adversary_batches,
                      run_eagerly=eager)
    steps = 3 if adversary_batches == "fresh" else 0
    batch = next(iter(make_training_dataset(data, batch_size=4, adversary_steps=steps, flip=False,
                                            shuffle=False, device=None)))
    first.make_train_function()
    first.train_function(iter([batch]))
    second.train_step(batch)
    assert int(first.adversary_optimizer.iterations) == int(second.adversary_optimizer.iterations) == 3
    for a, b in zip(values(first.weights), values(second.weights)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_fresh_batches_need_adversary_data():
    data = build_random_data(("a", "b"), count=8)
    model = build_tiny_model(("a", "b"))
    model.compile(adversary_steps=2, adversary_batches="fresh", run_eagerly=True)
    plain = tf.data.Dataset.from_tensor_slices((data.images, dict(data.labels))).batch(4)
    with pytest.raises(ValueError, match="adversary_batches"):
        model.fit(plain, epochs=1, verbose=0)


def test_fresh_batches_must_match_adversary_steps():
    data = build_random_data(("a", "b"), count=12)
    model = build_tiny_model(("a", "b"))
    model.compile(adversary_steps=3, adversary_batches="fresh")
    built_for_two = make_training_dataset(data, batch_size=4, adversary_steps=2, flip=False, device=None)
    with pytest.raises(ValueError, match="adversary_steps=3 batches of the main batch size"):
        model.fit(built_for_two, epochs=1, verbose=0)
    assert int(model.optimizer.iterations) == 0


def test_fresh_batches_from_arrays():
    data = build_random_data(("a", "b"), count=10)
    model = build_tiny_model(("a", "b"))
    model.compile(adversary_steps=2, adversary_batches="fresh", run_eagerly=True)
    model.fit(data.images, data.labels, batch_size=4, epochs=1, verbose=0)
    # fit wraps the arrays in make_training_dataset: 10 // 4 = 2 full main batches.
    assert int(model.optimizer.iterations) == 2
    assert int(model.adversary_optimizer.iterations) == 2 * 2


def test_same_batches_on_plain_dataset():
    data = build_random_data(("a", "b"), count=8)
    model = build_tiny_model(("a", "b"))
    model.compile(adversary_steps=3, adversary_batches="same", run_eagerly=True)
    plain = tf.data.Dataset.from_tensor_slices((data.images, dict(data.labels))).batch(4)
    model.fit(plain, epochs=1, verbose=0)
    assert int(model.optimizer.iterations) == 2
    assert int(model.adversary_optimizer.iterations) == 2 * 3


@pytest.mark.parametrize(
    "arguments, message",
    [
        (dict(adversary_batches="sometimes"), "adversary_batches"),
        (dict(adversary_steps=-1), "adversary_steps"),
        (dict(adversarial_weight=-0.1), "adversarial_weight"),
        (dict(adversarial_objective="minimize"), "adversarial_objective"),
    ],
)
def test_compile_rejects_bad_settings(arguments, message):
    model = build_tiny_model(("a", "b"))
    with pytest.raises(ValueError, match=message):
        model.compile(**arguments)


# ----------------------------------------------------------------------------- metrics and losses
def test_metrics_in_history_and_evaluate():
    tasks = ("a", "b", "c")
    train = build_random_data(tasks, count=8, seed=1)
    validation = build_random_data(tasks, count=6, seed=2)
    model = build_tiny_model(tasks)
    model.compile(adversary_steps=1, adversary_batches="same", run_eagerly=True)
    history = model.fit(train.images, train.labels, batch_size=4, epochs=1, verbose=0,
                        validation_data=(validation.images, validation.labels))
    names = expected_metric_names(model)
    assert len(names) == 3 + 2 * 3 + 2 * 6
    assert set(history.history) == names | {f"val_{n}" for n in names}
    for name, series in history.history.items():
        assert len(series) == 1 and np.isfinite(series[0]), name
        if name.endswith("accuracy"):
            assert 0.0 <= series[0] <= 1.0, name
    results = model.evaluate(validation.images, validation.labels, batch_size=6, verbose=0,
                             return_dict=True)
    assert set(results) == names
    # Validation ran on the weights fit ended with: evaluate gives the same numbers.
    for name in names:
        np.testing.assert_allclose(results[name], history.history[f"val_{name}"][0], rtol=1e-5,
                                   atol=1e-6, err_msg=name)


def _expected_losses(model, data, weight):
    """Losses of ``data`` as a whole, computed here with numpy from the model's logits."""
    logits, adversary = all_logits(model, data.images, training=False)
    task = {t: cross_entropy(data.labels[t], logits[t]).mean() for t in model.task_names}
    pairs = {
        pair: cross_entropy(data.labels[model.task_names[j]], adversary[pair]).mean()
        for pair, (_, j) in zip(model.adversary_names, model.adversary_pairs)
    }
    expected = {f"{t}_loss": v for t, v in task.items()}
    expected.update({f"adversary_{p}_loss": v for p, v in pairs.items()})
    expected["adversary_loss"] = sum(pairs.values())
    # Eq. 1 without L2 (evaluate adds no weight penalty): tasks - lambda * adversaries.
    expected["encoder_loss"] = sum(task.values()) - weight * sum(pairs.values())
    # ``loss``, the model-selection criterion: the task cross-entropies alone.
    expected["loss"] = sum(task.values())
    for t in model.task_names:
        expected[f"{t}_accuracy"] = np.mean(np.argmax(logits[t], -1) == data.labels[t])
    for pair, (_, j) in zip(model.adversary_names, model.adversary_pairs):
        labels = data.labels[model.task_names[j]]
        expected[f"adversary_{pair}_accuracy"] = np.mean(np.argmax(adversary[pair], -1) == labels)
    return expected


@pytest.mark.parametrize(
    "count, batch_size",
    [(8, 8), (6, 4)],
    ids=["one_batch", "uneven_batches"],
)
def test_evaluate_losses_are_means_over_examples(count, batch_size):
    weight = 0.5
    data = build_random_data(("a", "b"), count=count, seed=3)
    model = build_tiny_model(("a", "b"))
    model.compile(adversarial_weight=weight, adversary_steps=1, adversary_batches="same",
                  run_eagerly=True)
    results = model.evaluate(make_evaluation_dataset(data, batch_size=batch_size), verbose=0,
                             return_dict=True)
    expected = _expected_losses(model, data, weight)
    assert set(results) == set(expected)
    for name, value in expected.items():
        np.testing.assert_allclose(results[name], value, rtol=0, atol=1e-5, err_msg=name)


def test_train_step_encoder_loss_is_eq1_with_l2():
    """The training encoder_loss is Eq. 1 on the batch (training-mode logits) plus L2."""
    weight = 0.5
    data = build_random_data(("a", "b"), count=8, seed=4)
    images, labels = batch_of(data)
    model = build_tiny_model(("a", "b"), l2_weight=1e-2)
    model.compile(optimizer=keras.optimizers.SGD(1e-3), adversarial_weight=weight, adversary_steps=1,
                  adversary_batches="same")
    # Before the step: training-mode logits (batch statistics, as in train_step).
    logits, adversary = all_logits(model, images, training=True)
    task = sum(cross_entropy(data.labels[t], logits[t]).mean() for t in model.task_names)
    pairs = sum(
        cross_entropy(data.labels[model.task_names[j]], adversary[pair]).mean()
        for pair, (_, j) in zip(model.adversary_names, model.adversary_pairs)
    )
    kernels = [v for v in model.encoder_variables if v.path.endswith("kernel")]
    assert len(kernels) == 2 * 5 + 2 * 2  # per encoder: stem + 2 x 2 convolutions; per head: 2 dense
    l2 = model.l2_weight * sum(float(np.sum(np.square(v))) for v in values(kernels))
    assert l2 > 1e-3  # large enough for the comparison below to see it
    results = model.train_step((images, labels))
    np.testing.assert_allclose(float(results["encoder_loss"]), task - weight * pairs + l2, rtol=0, atol=1e-5)
    np.testing.assert_allclose(float(results["adversary_loss"]), pairs, rtol=0, atol=1e-5)


# ----------------------------------------------------------------------------- mixed precision
def test_mixed_float16_training_step():
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        data = build_random_data(("a", "b"), count=16)
        model = build_tiny_model(("a", "b"))
        model.compile(adversary_steps=2, adversary_batches="fresh", run_eagerly=True)
        assert model.dtype_policy.name == "mixed_float16"
        assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
        assert isinstance(model.adversary_optimizer, keras.optimizers.LossScaleOptimizer)
        # Variables stay float32; features are computed in float16, logits in float32.
        assert {keras.backend.standardize_dtype(v.dtype) for v in model.trainable_variables} == {"float32"}
        logits, features = model(data.images[:2], return_features=True)
        assert {keras.backend.standardize_dtype(z.dtype) for z in logits.values()} == {"float32"}
        assert {keras.backend.standardize_dtype(f.dtype) for f in features.values()} == {"float16"}

        initial_scales = [float(o.dynamic_scale) for o in (model.optimizer, model.adversary_optimizer)]
        before_encoders = values(model.encoder_variables)
        before_adversaries = values(model.adversary_variables)
        history = model.fit(data.images, data.labels, batch_size=4, epochs=1, verbose=0)
        assert all(np.isfinite(series[-1]) for series in history.history.values())
        # Dynamic loss scaling: a step whose scaled gradients overflow float16 is skipped
        # and halves the scale (the first steps often are); every other step is applied.
        for optimizer, initial, steps in zip((model.optimizer, model.adversary_optimizer),
                                             initial_scales, (4, 4 * 2)):
            skipped = np.log2(initial / float(optimizer.dynamic_scale))
            assert skipped == int(skipped)
            assert 1 <= int(optimizer.iterations) == steps - int(skipped)
        after_encoders = values(model.encoder_variables)
        after_adversaries = values(model.adversary_variables)
        assert all(np.all(np.isfinite(v)) for v in after_encoders + after_adversaries)
        assert any(changed(before_encoders, after_encoders))
        assert any(changed(before_adversaries, after_adversaries))
        logits = model(data.images[:2])
        assert {keras.backend.standardize_dtype(z.dtype) for z in logits.values()} == {"float32"}
    finally:
        keras.mixed_precision.set_global_policy("float32")
