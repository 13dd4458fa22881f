"""Every private Keras name the package relies on still exists, and the fast paths step aside
for plain Keras, with one warning, where one is missing.

A Keras release may rename a private name without notice. Each existence check here fails
with the name and the module that uses it, so an upgrade shows at once what to adapt; the
fallback tests check that training still runs, and computes what plain Keras computes, when
the fast paths cannot read a name (simulated by pointing the package at a name no Keras has).
"""

from __future__ import annotations

import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import build_random_data, build_tiny_model, values
from disentangle_tf import fast
from disentangle_tf.data import make_training_dataset
from disentangle_tf.fast import keras_internals
from disentangle_tf.fast.batch_normalization import FusedBatchNormalization
from disentangle_tf.fast.factored_adversary_updates import factored_updates_apply
from disentangle_tf.fast.keras_internals import KerasInternalsWarning, layers_within
from disentangle_tf.fast.optimizers import FusedAdam, FusedSGD
from disentangle_tf.models import ResidualEncoder
from disentangle_tf.models.precise_batch_norm import batch_norm_layers
from disentangle_tf.replicas import model_strategy

pytestmark = pytest.mark.keras_internals

#: A name no Keras release has, standing for a private name a later release renamed.
GONE = "_renamed_in_a_later_keras"


def test_the_trainer_hook_the_model_overrides_exists():
    # disentangle_tf.models.fit_arguments overrides _maybe_symbolic_build; Keras's own hook
    # calls _symbolic_build, as the override does.
    assert callable(getattr(keras.Model, "_maybe_symbolic_build", None)), (
        "keras.Model._maybe_symbolic_build is gone: Disentangler's override (models/fit_arguments.py) no longer runs")
    assert callable(getattr(keras.Model, "_symbolic_build", None)), (
        "keras.Model._symbolic_build is gone: used by Disentangler._maybe_symbolic_build")


@pytest.mark.parametrize("optimizer, slots", [
    (keras.optimizers.Adam, keras_internals.ADAM_SLOTS),
    (keras.optimizers.SGD, keras_internals.SGD_SLOTS),
])
def test_optimizer_slots_the_fused_optimizers_read_exist(optimizer, slots):
    variable = keras.Variable([1.0, 2.0])
    instance = optimizer(momentum=0.9) if optimizer is keras.optimizers.SGD else optimizer()
    instance.build([variable])
    assert callable(getattr(instance, keras_internals.VARIABLE_INDEX, None)), (
        f"Optimizer.{keras_internals.VARIABLE_INDEX} is gone: the fused optimizers and the factored adversary "
        "updates (fast/) use Keras's own updates")
    with warnings.catch_warnings():
        warnings.simplefilter("error", KerasInternalsWarning)
        found = keras_internals.slot_variables(instance, slots, variable)
    assert found is not None and [tuple(v.shape) for v in found] == [(2,)] * len(slots), (
        f"{optimizer.__name__}.{slots} are gone or changed: fast/optimizers.py reads the slot variables from them")


def test_batch_normalization_attributes_the_fused_layer_checks_exist():
    layer = keras.layers.BatchNormalization()
    layer.build((None, 3))
    # renorm too from Keras 3.14 on; before, there is no renorm to check.
    for name in ("synchronized", "moving_mean", "moving_variance", "momentum", "epsilon"):
        assert hasattr(layer, name), (
            f"BatchNormalization.{name} is gone: fast/batch_normalization.py decides with it")


def test_the_op_determinism_functions_a_run_restores_with_exist():
    # disentangle_tf.run.determinism reads and turns off op determinism with them
    # (TensorFlow 2.21 exports only tf.config.experimental.enable_op_determinism).
    from tensorflow.python.framework import config

    for name in ("is_op_determinism_enabled", "enable_op_determinism", "disable_op_determinism"):
        assert callable(getattr(config, name, None)), (
            f"tensorflow.python.framework.config.{name} is gone: run/determinism.py uses it")


# === Where a name is missing: plain Keras, one warning ===

@pytest.fixture
def renamed(monkeypatch):
    """The fast paths look for an optimizer method no Keras has; no name warned of yet."""
    monkeypatch.setattr(keras_internals, "VARIABLE_INDEX", GONE)
    monkeypatch.setattr(keras_internals, "warned", set())


def _internals_warnings(caught) -> list[str]:
    return [str(w.message) for w in caught if issubclass(w.category, KerasInternalsWarning)]


def _graph_updates(optimizer, steps=3):
    """Variables after ``steps`` traced updates by ``optimizer``, and the op types of its step."""
    rng = np.random.default_rng(0)
    variables = [keras.Variable(rng.normal(size=shape).astype("float32")) for shape in [(4, 3), (3,)]]
    gradients = [[tf.constant(rng.normal(size=v.shape).astype("float32")) for v in variables] for _ in range(steps)]
    optimizer.build(variables)
    apply = tf.function(lambda g: optimizer.apply_gradients(zip(g, variables)))
    for g in gradients:
        apply(g)
    ops = {op.type for op in apply.get_concrete_function(gradients[0]).graph.get_operations()}
    return [np.asarray(v) for v in [*variables, *optimizer.variables]], ops


def test_without_the_slot_names_the_fused_optimizers_make_keras_updates_with_one_warning(renamed):
    cases = [(FusedAdam, keras.optimizers.Adam, {}, "ResourceApplyAdam"),
             (FusedSGD, keras.optimizers.SGD, {"momentum": 0.9}, "ResourceApplyKerasMomentum")]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for fused, plain, kwargs, kernel in cases:
            actual, ops = _graph_updates(fused(learning_rate=0.1, **kwargs))
            expected, _ = _graph_updates(plain(learning_rate=0.1, **kwargs))
            assert kernel not in ops  # Keras's own update was traced
            for a, b in zip(actual, expected):
                np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    messages = _internals_warnings(caught)
    assert len(messages) == 1, messages
    assert GONE in messages[0] and keras.__version__ in messages[0]


def test_with_the_slot_names_the_fused_kernels_run_and_nothing_is_warned(monkeypatch):
    monkeypatch.setattr(keras_internals, "warned", set())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _, ops = _graph_updates(FusedAdam(learning_rate=0.1))
    assert "ResourceApplyAdam" in ops
    assert _internals_warnings(caught) == []


def _trained(monkeypatch, switch: str):
    monkeypatch.setenv(fast.SWITCH, switch)
    model = build_tiny_model(("a", "b"), seed=3)
    model.compile(adversarial_weight=0.1, adversary_steps=2, adversary_batches="same")
    data = build_random_data(("a", "b"), count=16, seed=1)
    dataset = make_training_dataset(data, batch_size=8, adversary_steps=0, flip=False, shuffle=False, device=None)
    model.fit(dataset, epochs=1, verbose=0)
    return model


def test_without_the_slot_names_training_takes_the_plain_paths_with_one_warning(renamed, monkeypatch):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fallback = _trained(monkeypatch, "1")
        assert not factored_updates_apply(fallback.adversary_optimizer, fallback.adversaries)
    # Three fast paths read the missing name (FusedAdam, FusedSGD, the factored updates): one warning.
    messages = _internals_warnings(caught)
    assert len(messages) == 1, messages
    assert type(fallback.optimizer) is FusedAdam  # the fast paths were on, and stepped aside
    plain = _trained(monkeypatch, "0")
    assert type(plain.optimizer) is keras.optimizers.Adam
    for a, b in zip(values(fallback.weights), values(plain.weights)):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4)
    initial = build_tiny_model(("a", "b"), seed=3)
    assert any(not np.allclose(a, b) for a, b in zip(values(initial.weights), values(fallback.weights)))


def test_a_keras_without_renorm_keeps_the_fused_batch_normalization():
    # Keras before 3.14 has no renorm argument, hence no renorm to fall back for.
    layer = FusedBatchNormalization()
    layer.build((None, 4, 4, 3))
    if hasattr(layer, "renorm"):
        del layer.renorm
    x = tf.constant(np.random.default_rng(0).normal(size=(6, 4, 4, 3)).astype("float32"))
    graph = tf.function(lambda x: layer(x, training=True)).get_concrete_function(x).graph
    assert "FusedBatchNormV3" in {op.type for op in graph.get_operations()}


# === Public stand-ins for private names ===

class _Block(keras.layers.Layer):
    """A layer holding others alone, in a list and in a dict, one of them twice."""

    def __init__(self):
        super().__init__()
        self.norm = keras.layers.BatchNormalization()
        self.pair = [keras.layers.BatchNormalization(), keras.layers.Dense(2)]
        self.named = {"again": self.norm, "last": keras.layers.BatchNormalization()}

    def build(self, input_shape):
        for layer in (self.norm, *self.pair, self.named["last"]):
            layer.build(input_shape)

    def call(self, x):
        return x


def test_the_layer_walk_finds_every_held_layer_once():
    block = _Block()
    inner = keras.Sequential([keras.Input((3,)), keras.layers.Dense(3), keras.layers.BatchNormalization()])
    outer = keras.Sequential([keras.Input((3,)), inner, block])
    found = layers_within(outer)
    expected = [*inner.layers, block, block.norm, *block.pair, block.named["last"]]
    assert sorted(map(id, found)) == sorted(map(id, [inner, *expected]))
    assert len(found) == len({id(layer) for layer in found})
    assert found.index(inner) < found.index(inner.layers[1]) and found.index(block) < found.index(block.norm)


@pytest.mark.parametrize("network", [
    lambda: ResidualEncoder((16, 16, 1), filters=(4, 8), strides=(2, 2), stem_filters=4),
    lambda: keras.applications.MobileNetV3Small(input_shape=(32, 32, 1), weights=None, include_top=False,
                                                minimalistic=True, include_preprocessing=False),
    lambda: keras.Sequential([keras.Input((3,)), _Block()]),
], ids=["residual-encoder", "mobilenet", "nested-layer"])
def test_the_layer_walk_finds_the_layers_keras_tracks(network):
    network = network()
    if not callable(getattr(network, "_flatten_layers", None)):
        pytest.skip("this Keras has no Layer._flatten_layers to compare with")
    def ids(layers):  # input layers aside, which a model's layers may list or not
        return {id(layer) for layer in layers if not isinstance(layer, keras.layers.InputLayer)}

    tracked = ids(network._flatten_layers(include_self=False))
    assert len(tracked) > 2 and ids(layers_within(network)) == tracked


def test_precise_batch_norm_sees_every_batch_norm_of_encoders_and_heads():
    model = build_tiny_model(("a", "b"))
    layers = batch_norm_layers(model)
    owned = {id(v) for network in (*model.encoders, *model.classifiers) for v in network.non_trainable_variables}
    moving = [v for layer in layers for v in (layer.moving_mean, layer.moving_variance)]
    # Every moving statistic of the encoders and heads belongs to a layer found.
    assert layers and {id(v) for v in moving} == {id(v) for v in model.non_trainable_variables if id(v) in owned}


def test_the_strategy_a_model_trains_under():
    outside = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    mirrored = tf.distribute.MirroredStrategy(["/cpu:0"])
    with mirrored.scope():
        inside = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    assert model_strategy(outside) is None
    assert model_strategy(inside) is mirrored  # also outside the scope
    with mirrored.scope():
        assert model_strategy(outside) is mirrored
    if hasattr(outside, "_distribute_strategy"):  # Keras's private record agrees, outside every scope
        assert (outside._distribute_strategy, inside._distribute_strategy) == (None, mirrored)
