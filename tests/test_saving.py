"""``.keras`` round trip of a trained Disentangler: weights, compile settings, both optimizers."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import build_random_data, build_tiny_model, values
from disentangle_tf.data import make_training_dataset
from disentangle_tf.models import Disentangler

TASKS = ("a", "b")
ADVERSARY_STEPS = 2
COMPILE_SETTINGS = dict(
    adversarial_weight=0.3,
    adversary_steps=ADVERSARY_STEPS,
    adversary_batches="fresh",
    adversarial_objective="uniform",
)
"""Non-default settings, so that a loaded model cannot match them by falling back to defaults."""


def _optimizers():
    return (
        keras.optimizers.Adam(2e-3, beta_1=0.5, beta_2=0.9, epsilon=1e-5),
        keras.optimizers.SGD(3e-2, momentum=0.8),
    )


def _training_data():
    """Deterministic batches: no shuffling of the main stream, no flips, a seeded adversary stream."""
    data = build_random_data(TASKS, count=8, seed=5)
    return make_training_dataset(data, batch_size=4, adversary_steps=ADVERSARY_STEPS, flip=False,
                                 shuffle=False, seed=0, device=None)


def _assert_close_lists(actual, expected, atol, what):
    assert len(actual) == len(expected), what
    for index, (a, e) in enumerate(zip(actual, expected)):
        assert a.shape == e.shape, f"{what}[{index}]"
        np.testing.assert_allclose(a, e, rtol=0, atol=atol, err_msg=f"{what}[{index}]")


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A model trained for two steps, and the model loaded back from its ``.keras`` file."""
    keras.mixed_precision.set_global_policy("float32")
    model = build_tiny_model(TASKS)
    optimizer, adversary_optimizer = _optimizers()
    model.compile(optimizer=optimizer, adversary_optimizer=adversary_optimizer, run_eagerly=True,
                  **COMPILE_SETTINGS)
    model.fit(_training_data(), epochs=1, verbose=0)
    path = tmp_path_factory.mktemp("saving") / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)  # safe_mode=True (the default)
    loaded.run_eagerly = True  # run_eagerly is a debugging switch, not saved
    return model, loaded


@pytest.mark.keras_internals
def test_loaded_model_has_same_config_and_predictions(saved):
    model, loaded = saved
    assert type(loaded) is Disentangler
    assert loaded.get_config() == model.get_config()
    images = build_random_data(TASKS, count=6, seed=9).images
    expected = model(images, training=False)
    actual = loaded(images, training=False)
    assert set(actual) == set(expected) == set(TASKS)
    for task in TASKS:
        np.testing.assert_allclose(actual[task], expected[task], rtol=0, atol=1e-6, err_msg=task)
    # Every weight, including batch-norm moving statistics, came back.
    _assert_close_lists(values(loaded.weights), values(model.weights), 0.0, "weights")


@pytest.mark.keras_internals
def test_loaded_model_has_same_compile_settings(saved):
    model, loaded = saved
    for key, value in COMPILE_SETTINGS.items():
        assert getattr(loaded, key) == getattr(model, key) == value, key
    assert loaded.get_compile_config() == model.get_compile_config()
    for attribute in ("optimizer", "adversary_optimizer"):
        original, restored = getattr(model, attribute), getattr(loaded, attribute)
        assert type(restored) is type(original), attribute
        assert restored.get_config() == original.get_config(), attribute


@pytest.mark.parametrize("attribute", ["optimizer", "adversary_optimizer"])
@pytest.mark.keras_internals
def test_loaded_optimizers_have_same_state(saved, attribute):
    model, loaded = saved
    original, restored = getattr(model, attribute), getattr(loaded, attribute)
    steps = 2 * (ADVERSARY_STEPS if attribute == "adversary_optimizer" else 1)
    assert int(original.iterations) == int(restored.iterations) == steps
    # Each optimizer holds slots for its own variables only (Adam: 2 per variable, SGD
    # with momentum: 1), plus its iteration counter and learning rate.
    own = model.encoder_variables if attribute == "optimizer" else model.adversary_variables
    slots_per_variable = 2 if attribute == "optimizer" else 1
    assert len(original.variables) == len(restored.variables) == 2 + slots_per_variable * len(own)
    before = values(original.variables)
    # The slots have moved away from their zero initial values: the comparison means something.
    assert sum(float(np.abs(v).sum()) for v in before[2:]) > 0
    _assert_close_lists(values(restored.variables), before, 0.0, f"{attribute}.variables")


@pytest.mark.keras_internals
def test_loaded_model_evaluates_the_same(saved):
    model, loaded = saved
    data = build_random_data(TASKS, count=8, seed=7)
    expected = model.evaluate(data.images, data.labels, batch_size=4, verbose=0, return_dict=True)
    actual = loaded.evaluate(data.images, data.labels, batch_size=4, verbose=0, return_dict=True)
    assert set(actual) == set(expected)
    for name in expected:
        np.testing.assert_allclose(actual[name], expected[name], rtol=0, atol=1e-6, err_msg=name)


@pytest.mark.keras_internals
def test_training_continues_identically_after_loading(saved):
    model, loaded = saved
    # One more main step (and its adversary steps) on the same batch for both models.
    batch = next(iter(_training_data()))
    one_batch = tf.data.Dataset.from_tensors(batch)
    weights_before = values(model.weights)
    for network in (model, loaded):
        network.fit(one_batch, epochs=1, verbose=0)
    assert int(model.optimizer.iterations) == int(loaded.optimizer.iterations) == 3
    assert int(model.adversary_optimizer.iterations) == int(loaded.adversary_optimizer.iterations) == 3 * ADVERSARY_STEPS
    assert any(not np.array_equal(b, a) for b, a in zip(weights_before, values(model.weights)))
    _assert_close_lists(values(loaded.weights), values(model.weights), 1e-5, "weights after a step")
    for attribute in ("optimizer", "adversary_optimizer"):
        _assert_close_lists(values(getattr(loaded, attribute).variables),
                            values(getattr(model, attribute).variables), 1e-5, attribute)


FRESH_PROCESS_LOAD = r"""
import json, sys
import numpy as np
import disentangle_tf
import keras
disentangle_tf.register_keras_classes()
model = keras.saving.load_model(sys.argv[1])
probabilities = model.predict_probabilities(np.load(sys.argv[2]))
np.savez(sys.argv[3], **probabilities)
print(json.dumps({
    "model": type(model).__name__,
    "optimizers": [type(model.optimizer).__name__, type(model.adversary_optimizer).__name__],
    "registered": {name: keras.saving.get_registered_object(f"disentangle_tf>{name}") is not None
                   for name in sys.argv[4].split(",")},
}))
"""


def _registered_class_names():
    """Names of the package's classes decorated with ``register_keras_serializable``, read from its source."""
    import ast
    import pathlib

    import disentangle_tf

    names = set()
    for path in pathlib.Path(disentangle_tf.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and any(
                "register_keras_serializable" in ast.unparse(decorator) for decorator in node.decorator_list
            ):
                names.add(node.name)
    return sorted(names)


def _run_python(*args):
    import os
    import subprocess
    import sys

    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True, env=env,
                          timeout=600)


@pytest.mark.keras_internals
def test_model_keras_loads_in_a_new_process_after_importing_the_package(tmp_path):
    import json

    model = build_tiny_model(TASKS)
    model.compile(adversary_steps=ADVERSARY_STEPS)  # the package's fused optimizers
    model.fit(_training_data(), epochs=1, verbose=0)
    model.save(tmp_path / "model.keras")
    images = build_random_data(TASKS, count=5, seed=11).images
    np.save(tmp_path / "images.npy", images)
    names = _registered_class_names()
    # The package's models, encoders, heads, layers and optimizers, whatever their number.
    assert {"Disentangler", "DenseHead", "ResidualEncoder", "FusedBatchNormalization", "FusedAdam",
            "FusedSGD"} <= set(names)

    result = _run_python("-c", FRESH_PROCESS_LOAD, tmp_path / "model.keras", tmp_path / "images.npy",
                         tmp_path / "out.npz", ",".join(names))
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["model"] == "Disentangler"
    assert report["optimizers"] == ["FusedAdam", "FusedSGD"]
    assert report["registered"] == {name: True for name in names}
    loaded = np.load(tmp_path / "out.npz")
    expected = model.predict_probabilities(images)
    for task in TASKS:
        np.testing.assert_allclose(loaded[task], expected[task], rtol=0, atol=1e-6, err_msg=task)


def test_commands_start_without_tensorflow():
    # ``python -m disentangle_tf.<command>`` imports the package first: it loads no TensorFlow.
    script = "import sys; import disentangle_tf; print('tensorflow' in sys.modules)"
    result = _run_python("-c", script)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split() == ["False"]
