"""The fast paths' one switch: on by default; off, the plain Keras classes give the same training."""

from __future__ import annotations

import os

import keras
import numpy as np
import pytest

from conftest import build_random_data, build_tiny_model, values
from disentangle_tf import fast
from disentangle_tf.data import make_training_dataset
from disentangle_tf.fast.batch_normalization import FusedBatchNormalization
from disentangle_tf.fast.factored_adversary_updates import factored_updates_apply
from disentangle_tf.fast.onednn import ONEDNN_VARIABLE, prefer_onednn
from disentangle_tf.fast.optimizers import FusedAdam, FusedSGD
from disentangle_tf.fast.threads import configure_threads
from disentangle_tf.models.precise_batch_norm import batch_norm_layers


@pytest.mark.parametrize("value, on", [(None, True), ("1", True), ("0", False), ("off", False), ("False", False)])
def test_the_switch_reads_the_environment(monkeypatch, value, on):
    if value is None:
        monkeypatch.delenv(fast.SWITCH, raising=False)
    else:
        monkeypatch.setenv(fast.SWITCH, value)
    assert fast.enabled() is on


def _trained(monkeypatch, switch: str):
    """A tiny two-task model trained two epochs with the switch at ``switch``."""
    monkeypatch.setenv(fast.SWITCH, switch)
    model = build_tiny_model(("a", "b"), seed=3)
    model.compile(adversarial_weight=0.1, adversary_steps=2, adversary_batches="same",
                  independence_weight=1.0)
    data = build_random_data(("a", "b"), count=16, seed=1)
    dataset = make_training_dataset(data, batch_size=8, adversary_steps=0, flip=False, shuffle=False, device=None)
    history = model.fit(dataset, epochs=2, verbose=0)
    return model, history.history


@pytest.fixture(scope="module")
def plain_run():
    """``_trained`` with the switch off, once for the module's tests: ``(model, history)``."""
    with pytest.MonkeyPatch.context() as patch:
        return _trained(patch, "0")


#: The tests of the module's plain run go to one worker, which trains it once.
PLAIN_RUN = pytest.mark.xdist_group("fast_paths_plain_run")


@PLAIN_RUN
def test_off_the_plain_keras_classes_are_used(monkeypatch, plain_run):
    model, _ = plain_run
    monkeypatch.setenv(fast.SWITCH, "0")
    layers = batch_norm_layers(model)
    assert layers and all(type(layer) is keras.layers.BatchNormalization for layer in layers)
    assert type(model.optimizer) is keras.optimizers.Adam
    assert type(model.adversary_optimizer) is keras.optimizers.SGD
    assert not factored_updates_apply(model.adversary_optimizer, model.adversaries)
    assert configure_threads("auto", 2) is None  # TensorFlow's thread defaults kept


def test_on_by_default_the_fused_classes_are_used(monkeypatch):
    monkeypatch.delenv(fast.SWITCH, raising=False)
    model = build_tiny_model(("a", "b"))
    model.compile(adversary_batches="same")
    assert all(type(layer) is FusedBatchNormalization for layer in batch_norm_layers(model))
    assert type(model.optimizer) is FusedAdam and type(model.adversary_optimizer) is FusedSGD
    assert factored_updates_apply(model.adversary_optimizer, model.adversaries)


@PLAIN_RUN
def test_training_gives_the_same_result_both_ways(monkeypatch, plain_run):
    plain, plain_history = plain_run
    fused, fused_history = _trained(monkeypatch, "1")
    assert type(fused.optimizer) is FusedAdam  # the two runs did take different paths
    assert len(plain.weights) == len(fused.weights)
    for a, b in zip(values(fused.weights), values(plain.weights)):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4)
    for name in ("loss", "adversary_loss", "a_accuracy"):
        np.testing.assert_allclose(fused_history[name], plain_history[name], rtol=1e-4, atol=1e-5)
    initial = build_tiny_model(("a", "b"), seed=3)
    changed = any(not np.allclose(a, b) for a, b in zip(values(initial.weights), values(fused.weights)))
    assert changed  # training moved the weights, so the comparison says something


def test_onednn_is_asked_for_only_with_the_switch_on(monkeypatch):
    monkeypatch.delenv(ONEDNN_VARIABLE, raising=False)
    monkeypatch.setenv(fast.SWITCH, "0")
    prefer_onednn()
    assert ONEDNN_VARIABLE not in os.environ
    monkeypatch.setenv(fast.SWITCH, "1")
    prefer_onednn()
    assert os.environ[ONEDNN_VARIABLE] == "1"
    monkeypatch.setenv(ONEDNN_VARIABLE, "0")  # the user's choice is kept
    prefer_onednn()
    assert os.environ[ONEDNN_VARIABLE] == "0"
