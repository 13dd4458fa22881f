"""Gradient reversal, conditional adversaries, the penalty schedule and group-balanced sampling."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import build_random_data, build_tiny_model, clone_model, small_synthetic, values
from disentangle_tf.run.callbacks import PenaltySchedule
from disentangle_tf.data.labelled_images import LabelledImages
from disentangle_tf.data.pipeline import label_groups, make_training_dataset
from disentangle_tf.models import objectives


def _batch(data):
    return tf.constant(data.images), {t: tf.constant(v) for t, v in data.labels.items()}


def _close(a, b, **tolerance):
    return all(np.allclose(x, y, **tolerance) for x, y in zip(a, b))


def _encoders_after_one_step(base, images, labels, penalty_scale=1.0, **settings):
    """Encoder and classifier weights of a clone of ``base`` after one SGD step (adversaries frozen)."""
    model = clone_model(base)
    model.compile(**{"optimizer": keras.optimizers.SGD(0.05), "adversary_optimizer": keras.optimizers.SGD(0.0),
                     "adversary_steps": 0, "adversary_batches": "same", **settings})
    model.penalty_scale.assign(penalty_scale)
    model.train_step((images, labels))
    return values(model.encoder_variables)


# ----------------------------------------------------------------------- gradient reversal
def test_gradient_reversal_moves_the_encoders_as_the_alternating_step():
    """With the adversaries frozen, the reversed gradient is Eq. 1's: the same encoder update."""
    data = build_random_data(("a", "b"), count=8)
    images, labels = _batch(data)
    base = build_tiny_model(("a", "b"))
    updated = {training: _encoders_after_one_step(base, images, labels, adversarial_weight=2.0,
                                                  adversarial_training=training)
               for training in ("alternating", "gradient_reversal")}
    start = values(base.encoder_variables)
    assert not _close(updated["alternating"], start)
    assert _close(updated["gradient_reversal"], updated["alternating"], rtol=1e-4, atol=1e-6)
    # A reversal of the wrong sign would differ from the alternating step; so would lambda 0.
    lambda0 = _encoders_after_one_step(base, images, labels, adversarial_weight=0.0)
    assert not _close(lambda0, updated["gradient_reversal"], rtol=1e-4, atol=1e-6)


def test_gradient_reversal_step_trains_the_adversaries_on_their_own_loss():
    data = build_random_data(("a", "b"), count=16)
    images, labels = _batch(data)
    model = build_tiny_model(("a", "b"))
    model.compile(optimizer=keras.optimizers.SGD(0.0), adversary_optimizer=keras.optimizers.SGD(0.1),
                  adversarial_weight=1.0, adversary_steps=0, adversary_batches="same",
                  adversarial_training="gradient_reversal")

    def adversary_loss():
        _, _, logits = model.forward_pass(images, training=False)
        return float(sum(np.mean(objectives.sparse_cross_entropy(labels[model.task_names[j]], z))
                         for z, (_, j) in zip(logits, model.adversary_pairs)))

    encoders = values(model.encoder_variables)
    before = adversary_loss()
    for _ in range(10):
        model.train_step((images, labels))
    assert adversary_loss() < before
    assert _close(values(model.encoder_variables)[:1], encoders[:1])  # the main optimizer's rate is 0
    assert int(model.adversary_optimizer.iterations) == 10


def test_gradient_reversal_needs_the_papers_objective():
    with pytest.raises(ValueError, match="gradient_reversal"):
        build_tiny_model().compile(adversarial_training="gradient_reversal", adversarial_objective="uniform")
    with pytest.raises(ValueError, match="adversarial_training"):
        build_tiny_model().compile(adversarial_training="reversed")


# ----------------------------------------------------------------- conditional adversaries
def test_conditional_adversaries_read_the_own_label():
    model = build_tiny_model(("a", "b"), conditional_adversaries=True)
    plain = build_tiny_model(("a", "b"))
    for adversary, plain_adversary, (i, _) in zip(model.adversaries, plain.adversaries, model.adversary_pairs):
        assert adversary.input_shape[-1] == plain_adversary.input_shape[-1] + model.tasks[i].num_classes
    data = build_random_data(("a", "b"), count=6)
    images, labels = _batch(data)
    _, _, logits = model.forward_pass(images, training=False, labels=[labels["a"], labels["b"]])
    flipped = [(labels["a"] + 1) % 2, labels["b"]]
    _, _, flipped_logits = model.forward_pass(images, training=False, labels=flipped)
    # The adversary reading task a's features (a_to_b) changes with a's label; the other does not.
    assert not np.allclose(logits[0], flipped_logits[0])
    np.testing.assert_allclose(logits[1], flipped_logits[1], rtol=1e-6)


def test_conditional_adversaries_use_the_prediction_where_no_label_is_given():
    model = build_tiny_model(("a", "b"), conditional_adversaries=True)
    data = build_random_data(("a", "b"), count=6)
    images, labels = _batch(data)
    _, task_logits, unlabelled = model.forward_pass(images, training=False)
    predicted = [tf.argmax(z, axis=-1) for z in task_logits]
    _, _, with_predictions = model.forward_pass(images, training=False, labels=predicted)
    _, _, marked = model.forward_pass(images, training=False, labels=[-tf.ones_like(labels["a"])] * 2)
    for a, b, c in zip(unlabelled, with_predictions, marked):
        np.testing.assert_allclose(a, b, rtol=1e-6)
        np.testing.assert_allclose(a, c, rtol=1e-6)


@pytest.mark.parametrize("objective", ["maximize_cross_entropy", "uniform"])
def test_conditional_adversaries_train_both_sides(objective):
    """Eq. 2 lowers the conditional adversaries' loss; Eq. 1 moves the encoders against them."""
    data = build_random_data(("a", "b"), count=16)
    images, labels = _batch(data)
    base = build_tiny_model(("a", "b"), conditional_adversaries=True)
    penalty = objectives.get_objective(objective)

    def penalty_value(model):
        _, _, logits = model.forward_pass(images, training=True, labels=[labels["a"], labels["b"]])
        return float(sum(np.mean(penalty(labels[model.task_names[j]], z))
                         for z, (_, j) in zip(logits, model.adversary_pairs)))

    changes = {}
    for weight in (0.0, 20.0):
        model = clone_model(base)
        model.compile(optimizer=keras.optimizers.SGD(1e-3), adversarial_weight=weight, adversary_steps=0,
                      adversary_batches="same", adversarial_objective=objective)
        before = penalty_value(model)
        model.train_step((images, labels))
        changes[weight] = penalty_value(model) - before
    assert changes[20.0] < min(changes[0.0], 0.0)

    model = clone_model(base)
    model.compile(optimizer=keras.optimizers.SGD(0.0), adversary_optimizer=keras.optimizers.SGD(0.05, momentum=0.9),
                  adversarial_weight=1.0, adversary_steps=5, adversary_batches="same")
    encoders = values(model.encoder_variables)
    logs = [model.train_on_batch(images, labels, return_dict=True)["adversary_loss"] for _ in range(6)]
    assert logs[-1] < logs[0]
    assert _close(values(model.encoder_variables), encoders)


# ------------------------------------------------------------------------ penalty schedule
def test_dann_schedule_values():
    schedule = PenaltySchedule("dann")
    assert schedule.factor(0.0) == 0.0
    assert schedule.factor(1.0) == pytest.approx(2 / (1 + math.exp(-10)) - 1)
    assert schedule.factor(0.1) == pytest.approx(2 / (1 + math.exp(-1)) - 1)
    with pytest.raises(ValueError, match="schedule"):
        PenaltySchedule("linear")


def test_penalty_scale_zero_is_lambda_zero():
    data = build_random_data(("a", "b"), count=8)
    images, labels = _batch(data)
    base = build_tiny_model(("a", "b"))
    updated = [_encoders_after_one_step(base, images, labels, penalty_scale=scale, adversarial_weight=weight,
                                        independence_weight=weight)
               for weight, scale in ((5.0, 0.0), (0.0, 1.0), (5.0, 1.0))]
    assert _close(updated[0], updated[1], rtol=1e-5, atol=1e-7)
    assert not _close(updated[2], updated[1], rtol=1e-5, atol=1e-7)


def test_schedule_callback_sets_the_scale_and_logs_it():
    data = build_random_data(("a", "b"), count=16)
    model = build_tiny_model(("a", "b"))
    model.compile(adversarial_weight=0.5, adversary_steps=1, adversary_batches="same")
    seen = []

    class Record(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append(float(self.model.penalty_scale.numpy()))

    history = model.fit(data.images, data.labels, batch_size=4, epochs=3, verbose=0,
                        callbacks=[PenaltySchedule("dann"), Record()])
    steps = 12
    expected = [2 / (1 + math.exp(-10 * s / steps)) - 1 for s in range(steps)]
    np.testing.assert_allclose(seen, expected, rtol=1e-6, atol=1e-7)
    logged = history.history["penalty_scale"]
    assert logged == sorted(logged) and logged[0] < logged[-1] < 1.0
    np.testing.assert_allclose(history.history["effective_adversarial_weight"], 0.5 * np.array(logged))


# ------------------------------------------------------------------- group-balanced sampling
def _skewed(count=400, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 2, count)
    b = np.where(rng.random(count) < 0.9, a, 1 - a)  # groups (0,1) and (1,0) are rare
    b[:3] = 1 - a[:3]
    return LabelledImages(images=rng.normal(size=(count, 4, 4, 1)).astype("float32"),
                          labels={"a": a.astype("int64"), "b": b.astype("int64")})


def _group_counts(dataset):
    pairs = np.concatenate([np.stack([y["a"].numpy(), y["b"].numpy()], 1) for _, y in dataset])
    keys, counts = np.unique(pairs, axis=0, return_counts=True)
    return {tuple(k): c for k, c in zip(keys.tolist(), counts)}


def test_group_balanced_sampling_draws_every_label_combination_equally():
    data = _skewed()
    uniform = _group_counts(make_training_dataset(data, batch_size=20, flip=False, epochs=5))
    balanced = _group_counts(make_training_dataset(data, batch_size=20, flip=False, epochs=5,
                                                   sampling="group_balanced"))
    assert set(balanced) == set(uniform) == {(0, 0), (0, 1), (1, 0), (1, 1)}
    total = sum(balanced.values())
    assert total == 5 * (400 // 20) * 20
    # 2,000 draws of 4 equally likely groups: each within 5 standard deviations of 500.
    assert all(abs(c - total / 4) < 5 * math.sqrt(total * 0.25 * 0.75) for c in balanced.values())
    assert min(uniform.values()) < total / 10


def test_group_balanced_sampling_is_a_function_of_the_seed():
    data = _skewed()

    def order(seed):
        return np.concatenate([y["a"].numpy() * 2 + y["b"].numpy()
                               for _, y in make_training_dataset(data, batch_size=20, flip=False, epochs=1,
                                                                 sampling="group_balanced", seed=seed)])

    np.testing.assert_array_equal(order(3), order(3))
    assert not np.array_equal(order(3), order(4))


def test_label_groups_and_bad_sampling():
    groups = label_groups({"a": np.array([0, 1, 0, 1]), "b": np.array([2, 2, 2, 0])})
    assert groups[0] == groups[2] and len(set(groups.tolist())) == 3
    with pytest.raises(ValueError, match="sampling"):
        make_training_dataset(_skewed(), batch_size=20, sampling="balanced")


# ------------------------------------------------------------------ penalty on every block
def test_block_penalty_adds_one_term_per_block_and_shares_the_encoders():
    data = build_random_data(("a", "b"), count=16)
    images, labels = _batch(data)
    base = build_tiny_model(("a", "b"))
    losses = {}
    for layers in ("features", "blocks"):
        model = clone_model(base)
        variables = len(model.weights)
        model.compile(optimizer=keras.optimizers.SGD(0.0), independence_weight=1.0, independence_layers=layers,
                      adversary_steps=0, adversary_batches="same")
        assert len(model.weights) == variables  # the block taps add no weights
        losses[layers] = float(model.train_on_batch(images, labels, return_dict=True)["independence_loss"])
    # Both tiny encoders have two blocks: per pair, the block terms come on top of the features' term.
    features_only = losses["features"]
    labels_list = [labels["a"], labels["b"]]
    blocks = [[tf.reduce_mean(tap(images, training=True)[k], axis=(1, 2)) for tap in model._block_taps]
              for k in range(2)]
    expected = features_only + sum(float(model._independence_loss(level, labels_list)) for level in blocks)
    assert losses["blocks"] == pytest.approx(expected, rel=1e-4)
    assert losses["blocks"] > features_only > 0


def test_block_penalty_moves_the_first_layers_more():
    """The block terms reach the stem convolution directly: its gradient grows."""
    data = build_random_data(("a", "b"), count=16)
    images, labels = _batch(data)
    model = build_tiny_model(("a", "b"))
    labels_list = [labels["a"], labels["b"]]
    stem = model.encoders[0].get_layer("stem_conv").kernel
    norms = {}
    for layers in ("features", "blocks"):
        model.compile(independence_weight=1.0, independence_layers=layers, adversary_steps=0)
        with tf.GradientTape() as tape:
            features, blocks = model.encode(images, training=True, with_blocks=layers if layers == "blocks" else False)
            loss = model._independence_loss(features, labels_list)
            for level in zip(*blocks) if blocks else ():
                loss += model._independence_loss(list(level), labels_list)
        norms[layers] = float(tf.norm(tape.gradient(loss, stem)))
    assert norms["blocks"] > norms["features"] > 0
    with pytest.raises(ValueError, match="independence_layers"):
        model.compile(independence_layers="all")


def test_conditional_adversaries_are_evaluated_and_plotted_on_the_true_labels(tmp_path):
    from disentangle_tf.evaluation.forward import predict_outputs
    from disentangle_tf.evaluation.plots import plot_pca

    model = build_tiny_model(("a", "b"), conditional_adversaries=True)
    data = build_random_data(("a", "b"), count=12)
    outputs = predict_outputs(model, data, batch_size=5)
    _, _, expected = model.forward_pass(tf.constant(data.images), training=False,
                                    labels=[tf.constant(data.labels["a"]), tf.constant(data.labels["b"])])
    for name, logits in zip(model.adversary_names, expected):
        np.testing.assert_allclose(outputs["adversary_logits"][name], logits, rtol=1e-5, atol=1e-6)
    path = plot_pca(model, data, tmp_path / "pca.png", title="conditional", outputs=outputs)
    assert path.stat().st_size > 1000


def test_gradient_reversal_with_lambda_zero_is_the_lambda_zero_step():
    data = build_random_data(("a", "b"), count=8)
    images, labels = _batch(data)
    base = build_tiny_model(("a", "b"))
    updated = [_encoders_after_one_step(base, images, labels, adversarial_weight=0.0, adversarial_training=training)
               for training in ("alternating", "gradient_reversal")]
    assert _close(updated[0], updated[1], rtol=1e-5, atol=1e-7)


# ------------------------------------------------------------------ best validation epoch
def test_restore_best_validation_keeps_the_best_epoch_and_the_later_of_ties():
    from disentangle_tf.run.callbacks import RestoreBestValidation

    model = build_tiny_model(("a", "b"))
    callback = RestoreBestValidation(model.task_names)
    callback.set_model(model)
    kernel = model.encoders[0].get_layer("stem_conv").kernel
    scores = [(0.5, 0.5), (0.9, 1.0), (0.2, 0.3), (1.0, 0.9), (0.6, 0.6)]  # epochs 1 and 3 tie at 0.95
    for epoch, (a, b) in enumerate(scores):
        kernel.assign(tf.fill(kernel.shape, float(epoch)))
        logs = {"val_a_accuracy": a, "val_b_accuracy": b}
        callback.on_epoch_end(epoch, logs)
        assert logs["best_validation_epoch"] == [1, 2, 2, 4, 4][epoch]
    callback.on_train_end()
    assert callback.best_epoch == 3
    np.testing.assert_array_equal(kernel.numpy(), np.full(kernel.shape, 3.0))
    with pytest.raises(ValueError, match="validation data"):
        callback.on_epoch_end(5, {"a_accuracy": 1.0})


def test_run_restores_the_best_validation_epoch(monkeypatch):
    from disentangle_tf.run.config import RunConfig
    from disentangle_tf.run.training import run

    config = RunConfig().replace({"epochs": 3, "image_size": [16, 20], "encoder_filters": [4, 8],
                                  "encoder_strides": [2, 2], "stem_filters": 4, "head_units": [8],
                                  "adversary_steps": 1, "adversary_batches": "same", "batch_size": 20,
                                  "restore_best_weights": True, "threads": "tensorflow",
                                  # The validation scores of the restored epoch, as they were
                                  # measured: no batch-norm statistics recomputed and no last
                                  # layer refitted afterwards.
                                  "precise_batch_norm": 0, "last_layer_retraining": False,
                                  "independence_weight": 0.0,  # the epoch restored is the point
                                  # A learning rate at which the last epoch scores below the second.
                                  "learning_rate": 0.3, "seed": 1, "deterministic": True})
    with small_synthetic():
        result = run(config, verbose=0)
    history = result.history
    scores = [(a + b) / 2 for a, b in zip(history["val_background_accuracy"], history["val_shape_accuracy"])]
    best = max(i for i, s in enumerate(scores) if s == max(scores))
    assert best < len(scores) - 1, scores  # else restoring would change nothing
    assert history["best_validation_epoch"][-1] == best + 1
    # The returned model scores the best epoch's validation accuracy, not the last one's.
    assert np.mean(list(result.metrics["val"]["accuracy"].values())) == pytest.approx(scores[best], abs=1e-6)
