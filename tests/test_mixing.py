"""Mixup of training batches (``mixup``, ``mixup_partners``): the partners, the weights,
the pipeline's elements and a model's fit from arrays."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from conftest import as_task_specs, build_random_data, build_tiny_model
from disentangle_tf.data.dataset_splits import DatasetSplits
from disentangle_tf.data.mixing import mix_batch
from disentangle_tf.data.pipeline import make_training_dataset


def _batch(count=12, seed=0):
    rng = np.random.default_rng(seed)
    # Each image is a constant, its index: a mixed image's value tells its two images.
    images = np.arange(count, dtype="float32")[:, None, None, None] * np.ones((count, 4, 5, 1), "float32")
    labels = {"digit": rng.integers(0, 3, count), "shadow": rng.integers(0, 2, count)}
    labels["shadow"][0] = -1  # a missing label
    return tf.constant(images), {k: tf.constant(v, tf.int64) for k, v in labels.items()}


def _partners(images, mixed, weights):
    """Per image, its partner's index, read back from the mixed values and the weights."""
    count = images.shape[0]
    lam = weights[:count] / 2
    own = np.arange(count, dtype="float64")
    with np.errstate(divide="ignore", invalid="ignore"):
        partner = (mixed[:count, 0, 0, 0] - lam * own) / (1 - lam)
    return np.rint(partner).astype(int), lam


@pytest.mark.parametrize("partners", ["any", "other_combination"])
def test_each_image_is_blended_with_a_partner_whose_labels_are_its_second_half(partners):
    images, labels = _batch()
    mixed, both, weights = (np.asarray(t) if not isinstance(t, dict) else {k: np.asarray(v) for k, v in t.items()}
                            for t in mix_batch(images, labels, tf.constant([4, 9], tf.int64), 0.4, partners))
    count = images.shape[0]
    assert mixed.shape == (2 * count, 4, 5, 1) and weights.shape == (2 * count,)
    np.testing.assert_array_equal(mixed[:count], mixed[count:])  # the same images, twice
    partner, lam = _partners(np.asarray(images), mixed, weights)
    assert ((lam > 0) & (lam < 1)).all()
    np.testing.assert_allclose(weights[:count] + weights[count:], 2.0, rtol=1e-6)  # they average 1
    for task, y in labels.items():
        y = np.asarray(y)
        np.testing.assert_array_equal(both[task][:count], y)
        np.testing.assert_array_equal(both[task][count:], y[partner])
    if partners == "other_combination":
        digit, shadow = np.asarray(labels["digit"]), np.asarray(labels["shadow"])
        differs = (digit[:, None] != digit[None, :]) & ((shadow[:, None] != shadow[None, :]) | (shadow[:, None] < 0)
                                                        | (shadow[None, :] < 0))
        has_one = differs.any(axis=1)
        assert has_one.all()
        assert differs[np.arange(count), partner].all()


def test_an_image_without_a_partner_of_another_combination_takes_any():
    images = tf.constant(np.arange(3, dtype="float32")[:, None, None, None] * np.ones((3, 2, 2, 1), "float32"))
    labels = {"digit": tf.constant([0, 0, 1], tf.int64), "shadow": tf.constant([0, 1, 0], tf.int64)}
    mixed, both, weights = mix_batch(images, labels, tf.constant([1, 2], tf.int64), 1.0, "other_combination")
    partner, _ = _partners(np.asarray(images), np.asarray(mixed), np.asarray(weights))
    assert partner[1] == 2 and partner[2] == 1  # each other's only image of the other combination
    assert 0 <= partner[0] < 3  # image 0 has none: any image


def test_mixup_is_a_function_of_its_seed_and_refuses_bad_arguments():
    images, labels = _batch()
    one = mix_batch(images, labels, tf.constant([1, 2], tf.int64), 0.4)
    again = mix_batch(images, labels, tf.constant([1, 2], tf.int64), 0.4)
    other = mix_batch(images, labels, tf.constant([1, 3], tf.int64), 0.4)
    np.testing.assert_array_equal(one[0], again[0])
    assert not np.array_equal(one[2], other[2])
    with pytest.raises(ValueError, match="alpha must be > 0"):
        mix_batch(images, labels, tf.constant([1, 2], tf.int64), 0.0)
    with pytest.raises(ValueError, match="partners must be one of any, other_combination"):
        mix_batch(images, labels, tf.constant([1, 2], tf.int64), 0.4, "nearest")


def test_the_training_pipeline_mixes_the_main_batch_only():
    data = build_random_data(count=16)
    plain = next(iter(make_training_dataset(data, batch_size=8, seed=3, flip=False)))
    mixed = next(iter(make_training_dataset(data, batch_size=8, seed=3, flip=False, mixup=0.4)))
    assert len(plain) == 2 and len(mixed) == 3
    assert mixed[0].shape[0] == 16 and mixed[2].shape == (16,)
    # The same batch underneath: the first half's labels are the unmixed batch's.
    for task in plain[1]:
        np.testing.assert_array_equal(mixed[1][task][:8], plain[1][task])
    (main, adversary) = next(iter(make_training_dataset(data, batch_size=8, seed=3, adversary_steps=2,
                                                        mixup=0.4)))
    assert len(main) == 3 and main[0].shape[0] == 16
    assert len(adversary) == 2 and adversary[0].shape[:2] == (8, 2)
    with pytest.raises(ValueError, match="mixup must be a finite number >= 0"):
        make_training_dataset(data, batch_size=8, mixup=-1.0)
    with pytest.raises(ValueError, match="mixup_partners must be one of"):
        make_training_dataset(data, batch_size=8, mixup=0.4, mixup_partners="nearest")


def test_a_model_compiled_with_mixup_fits_arrays_on_mixed_batches():
    data = build_random_data(count=16)
    model = build_tiny_model()
    model.compile(method="lambda=0", mixup=0.4, mixup_partners="other_combination")
    assert (model.mixup, model.mixup_partners) == (0.4, "other_combination")
    assert model.compiled_method["overrides"] == {"mixup": 0.4, "mixup_partners": "other_combination"}
    dataset, steps = model._method_batches(data.images, data.labels, None, 8, 1, True, 0, {})
    element = next(iter(dataset))
    assert steps == 2 and len(element) == 3 and element[0].shape[0] == 16
    # Without mixup the same compile draws plain batches, and the two trainings differ.
    plain = build_tiny_model()
    plain.compile(method="lambda=0")
    assert len(next(iter(plain._method_batches(data.images, data.labels, None, 8, 1, True, 0, {})[0]))) == 2
    model.fit(data.images, data.labels, batch_size=8, epochs=1, seed=0, verbose=0)
    plain.fit(data.images, data.labels, batch_size=8, epochs=1, seed=0, verbose=0)
    assert any(not np.array_equal(a, b) for a, b in zip(model.get_weights(), plain.get_weights()))
    assert all(np.isfinite(w).all() for w in model.get_weights())
    with pytest.raises(ValueError, match="mixup: a method's setting"):
        build_tiny_model().compile(mixup=0.4)


def test_a_run_draws_its_batches_with_the_configured_mixup(monkeypatch):
    from disentangle_tf.run import training
    from disentangle_tf.run.run_settings import resolve_config

    seen = {}

    class Drawn(Exception):
        pass

    def stand_in(data, **kwargs):
        seen.update(kwargs)
        raise Drawn

    monkeypatch.setattr(training, "make_training_dataset", stand_in)
    config = resolve_config(None, {"image_size": (16, 20), "epochs": 1, "batch_size": 8}, "lambda=0",
                            set_options=["mixup=0.3", "mixup_partners=other_combination"])
    data = build_random_data(count=16, image_shape=(16, 20, 1))
    splits = DatasetSplits(tasks=as_task_specs(("a", "b")), train=data, validation=data, evaluation={"val": data})
    with pytest.raises(Drawn):
        training.run(config, data=splits, verbose=0)
    assert (seen["mixup"], seen["mixup_partners"]) == (0.3, "other_combination")
