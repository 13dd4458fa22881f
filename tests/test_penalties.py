"""Independence penalties by name: class-conditional CORAL, the registry and import paths."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from conftest import build_random_data, build_tiny_model
from disentangle_tf.models.coral import conditional_coral
from disentangle_tf.models.penalties import check_penalty_name, get_penalty
from disentangle_tf.models.objectives import conditional_hsic


def _coral_by_hand(features, other, own, mask=None):
    """DomainBed's CORAL term, per own class the mean over pairs of other labels with > 3 examples."""
    features = np.asarray(features, np.float64)
    keep = np.ones(len(own), bool) if mask is None else np.asarray(mask) > 0
    keep &= (own >= 0) & (other >= 0)
    total = 0.0
    for c in np.unique(own[own >= 0]):
        groups = [features[keep & (own == c) & (other == k)] for k in np.unique(other[other >= 0])]
        groups = [g for g in groups if len(g) > 3]
        terms = [np.mean((a.mean(0) - b.mean(0)) ** 2) + np.mean((np.cov(a.T) - np.cov(b.T)) ** 2)
                 for n, a in enumerate(groups) for b in groups[n + 1:]]
        total += np.mean(terms) if terms else 0.0
    return total


def _batch(seed=0, shift=0.0):
    rng = np.random.default_rng(seed)
    own = np.repeat([0, 1], 20)
    other = np.tile(np.repeat([0, 1], 10), 2)
    features = rng.normal(size=(40, 3))
    features[other == 1] += shift
    return features.astype("float32"), other, own


def test_coral_matches_the_moments_computed_by_hand():
    features, other, own = _batch(shift=0.7)
    value = float(conditional_coral(features, other, own, 2, 2))
    assert value == pytest.approx(_coral_by_hand(features, other, own), rel=1e-4)
    assert value > 0.3  # a mean shift of 0.7 in three dimensions: 0.49 from the means alone


def test_coral_is_zero_when_the_other_label_does_not_change_the_moments():
    features, other, own = _batch()
    # Within each class, the shadowed examples are the unshadowed ones in another order.
    for c in (0, 1):
        features[(own == c) & (other == 1)] = features[(own == c) & (other == 0)][::-1]
    assert float(conditional_coral(features, other, own, 2, 2)) == pytest.approx(0.0, abs=1e-6)


def test_coral_leaves_out_masked_and_unlabelled_examples_and_small_groups():
    features, other, own = _batch(shift=0.5)
    clean = float(conditional_coral(features, other, own, 2, 2))
    corrupted = features.copy()
    corrupted[0] += 100.0
    mask = np.ones(40, "float32")
    mask[0] = 0.0
    assert float(conditional_coral(corrupted, other, own, 2, 2, mask=mask)) == pytest.approx(
        _coral_by_hand(features, other, own, mask), rel=1e-4)
    missing = other.copy()
    missing[0] = -1
    assert float(conditional_coral(corrupted, missing, own, 2, 2)) == pytest.approx(
        float(conditional_coral(features, other, own, 2, 2, mask=mask)), rel=1e-5)
    # A group of 3 examples or fewer does not enter: class 1 keeps only its pairs' term.
    few = np.concatenate([np.flatnonzero((own == 1) & (other == 1))[:3], np.flatnonzero(~((own == 1) & (other == 1)))])
    value = float(conditional_coral(features[few], other[few], own[few], 2, 2))
    assert value == pytest.approx(_coral_by_hand(features[few], other[few], own[few]), rel=1e-4)
    assert value < clean


def test_coral_gradient_moves_the_groups_together():
    features, other, own = _batch(shift=1.0)
    variable = tf.Variable(features)
    with tf.GradientTape() as tape:
        value = conditional_coral(variable, other, own, 2, 2)
    stepped = features - 0.5 * tape.gradient(value, variable).numpy()
    assert float(conditional_coral(stepped, other, own, 2, 2)) < float(value)


def test_the_registry_and_import_paths():
    assert get_penalty("coral") is conditional_coral
    hsic = get_penalty("hsic", "batch")
    assert hsic.func is conditional_hsic and hsic.keywords == {"bandwidth": "batch"}
    assert get_penalty("disentangle_tf.models.coral:conditional_coral") is conditional_coral
    for bad, expected in (("mmd", "one of hsic, coral or an import path"),
                          ("no_such_module_xyz:f", "cannot import 'no_such_module_xyz'"),
                          ("disentangle_tf.models.coral:nothing", "has no function 'nothing'")):
        with pytest.raises(ValueError, match=expected) as raised:
            get_penalty(bad)
        assert "\n" not in str(raised.value)
    with pytest.raises(ValueError, match="import path"):
        check_penalty_name(3)


def test_a_model_compiled_with_coral_penalises_its_features_with_coral():
    tasks = (("a", 2), ("b", 2))
    model = build_tiny_model(tasks)
    model.compile(method="class-conditional coral")
    assert model.independence_penalty == "coral" and model.independence_weight == 1.0
    assert model.get_compile_config()["independence_penalty"] == "coral"
    data = build_random_data(tasks, count=32, seed=3)
    labels = [data.labels["a"], data.labels["b"]]
    images = tf.constant(data.images)
    results = model.test_step((images, {"a": labels[0], "b": labels[1]}))
    features, _ = model.encode(images, training=False)
    expected = sum(_coral_by_hand(np.asarray(features[i]), labels[j], labels[i]) for i, j in model.adversary_pairs)
    assert expected > 0
    assert float(results["independence_loss"]) == pytest.approx(expected, rel=1e-3)
    restored = build_tiny_model(tasks)
    restored.compile_from_config(model.get_compile_config())
    assert restored.independence_penalty == "coral"


def test_compile_refuses_an_unknown_penalty_in_one_line():
    with pytest.raises(ValueError, match="independence_penalty must be one of hsic, coral"):
        build_tiny_model().compile(independence_penalty="wasserstein", independence_weight=1.0)


# === Group DRO ===

def test_group_dro_moves_weight_to_the_worst_group_as_sagawa_et_al():
    tasks = (("a", 2), ("b", 2))
    data = build_random_data(tasks, count=16, seed=2)
    model = build_tiny_model(tasks)
    model.compile(method="group dro")
    assert model.group_dro_step_size == 0.01
    np.testing.assert_allclose(model.group_weights.numpy(), [0.25] * 4)
    labels = {name: tf.constant(data.labels[name]) for name in ("a", "b")}
    images = tf.constant(data.images)
    # The per-example losses the step sees, before the step moves anything.
    _, task_logits, _ = model.forward_pass(images, training=True, labels=[labels["a"], labels["b"]])
    losses = sum(-tf.nn.log_softmax(z).numpy()[np.arange(16), data.labels[t]] for t, z in zip(("a", "b"), task_logits))
    groups = data.labels["a"] * 2 + data.labels["b"]
    group_loss = np.array([losses[groups == g].mean() for g in range(4)])
    expected = 0.25 * np.exp(0.01 * group_loss)
    expected /= expected.sum()
    model.train_step((images, labels))
    np.testing.assert_allclose(model.group_weights.numpy(), expected, rtol=1e-4)
    assert np.argmax(model.group_weights.numpy()) == np.argmax(group_loss)


def test_group_dro_weights_are_saved_with_the_model(tmp_path):
    import keras
    tasks = (("a", 2), ("b", 3))
    model = build_tiny_model(tasks)
    model.compile(group_dro_step_size=0.1)
    assert model.group_weights.shape == (6,)
    model.group_weights.assign(np.arange(1, 7, dtype="float32") / 21)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(loaded.group_weights.numpy(), np.arange(1, 7) / 21, rtol=1e-6)
    with pytest.raises(ValueError, match="group_dro_step_size must be >= 0"):
        build_tiny_model(tasks).compile(group_dro_step_size=-1.0)
