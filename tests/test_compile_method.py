"""``Disentangler.compile(method=...)`` and ``fit``: a named method through Keras's compile and fit.

The acceptance test trains the recommended method twice on the synthetic shapes (at a fifth
of their size, :func:`conftest.small_synthetic`) with a tiny network, once with ``compile(method="recommended")`` and ``fit`` on arrays and once
with :func:`disentangle_tf.run.training.run` on the configuration of
``python -m disentangle_tf.train --method recommended``, and asks for the same weights; a
slow one runs the command and a Python program in processes of their own.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import RESULTS_ONLY, TINY_ARCHITECTURE, build_random_data, build_tiny_model, clone_model, small_synthetic
from disentangle_tf.models import Disentangler, TaskSpec
from disentangle_tf.models.methods import COMPILE_KEYS, METHODS, PAPER_COMPILE, RECOMMENDED, Method

IMAGE_SIZE = (16, 20)
EPOCHS = 2


def one_line(info, *parts):
    message = str(info.value)
    assert "\n" not in message, message
    for part in parts:
        assert part in message, message


def test_recommended_compile_and_fit_end_as_the_run_of_the_recommended_method(tmp_path):
    from disentangle_tf.data import make_synthetic_splits
    from disentangle_tf.evaluation.evaluate import evaluate_split
    from disentangle_tf.run.determinism import op_determinism_restored
    from disentangle_tf.run.run_settings import resolve_config
    from disentangle_tf.run.training import run

    # As `python -m disentangle_tf.train --method recommended` with a tiny network, small
    # images and two epochs: the method's settings untouched (30 batch-norm batches).
    options = {"image_size": IMAGE_SIZE, "epochs": EPOCHS, "deterministic": True, **TINY_ARCHITECTURE,
               **RESULTS_ONLY}
    config = resolve_config(None, options, method="recommended")
    assert (config.data.sampling, config.training.precise_batch_norm, config.training.last_layer_retraining,
            config.data.flip, config.data.seed) == ("group_balanced", 30, True, True, 0)
    with small_synthetic():
        result = run(config, tmp_path / "run", verbose=0, notify=lambda line: None, method="recommended")
        splits = make_synthetic_splits(image_size=IMAGE_SIZE, seed=0)

    with op_determinism_restored():
        tf.config.experimental.enable_op_determinism()
        keras.utils.set_random_seed(0)
        model = Disentangler([TaskSpec("background", 2), TaskSpec("shape", 2)], input_shape=(*IMAGE_SIZE, 1),
                             **TINY_ARCHITECTURE)
        model.compile(method="recommended")
        model.fit(splits["train"].images, splits["train"].labels, batch_size=50, epochs=EPOCHS, verbose=0)

    trained, expected = model.get_weights(), result.model.get_weights()
    assert len(trained) == len(expected)
    for mine, theirs in zip(trained, expected):
        np.testing.assert_array_equal(mine, theirs)
    unseen = evaluate_split(model, splits["unseen"], 50)
    assert unseen["accuracy"] == result.metrics["unseen"]["accuracy"]

    # The run's model.keras records the method, as compile(method=...) does, with the
    # trained weights and the optimizers' states (one update per batch of 50).
    loaded = keras.saving.load_model(tmp_path / "run" / "model.keras")
    assert loaded.compiled_method == {**model.compiled_method, "overrides": {}}
    assert (loaded.sampling, loaded.precise_batch_norm_batches, loaded.last_layer_retraining) == \
        ("group_balanced", 30, True)
    for mine, theirs in zip(loaded.get_weights(), expected):
        np.testing.assert_array_equal(mine, theirs)
    assert int(loaded.optimizer.iterations) == int(model.optimizer.iterations) == \
        EPOCHS * (len(splits["train"]) // 50)


#: A Python program that starts as the train command does (TF_ENABLE_ONEDNN_OPTS=1 before
#: TensorFlow loads, the thread pools of --threads auto before its first op), then trains as
#: README.rst's "From Python" does: argv the image size, the epochs, a JSON of the network
#: and the command's run directory; it prints whether every weight equals the run's, and the
#: unseen accuracy.
FROM_PYTHON = r"""
import json, os, sys
os.environ["TF_ENABLE_ONEDNN_OPTS"] = "1"
import keras, numpy as np, tensorflow as tf
from disentangle_tf import Disentangler, TaskSpec, make_synthetic_splits
from disentangle_tf.evaluation.evaluate import evaluate_split
from disentangle_tf.fast.threads import configure_threads

height, width, epochs, network, run = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), json.loads(sys.argv[4]), sys.argv[5]
configure_threads("auto", 2)
tf.config.experimental.enable_op_determinism()
keras.utils.set_random_seed(0)
splits = make_synthetic_splits(image_size=(height, width), seed=0)
model = Disentangler([TaskSpec("background", 2), TaskSpec("shape", 2)], input_shape=(height, width, 1), **network)
model.compile(method="recommended")
model.fit(splits["train"].images, splits["train"].labels, batch_size=50, epochs=epochs, seed=0, verbose=0)
theirs = keras.saving.load_model(os.path.join(run, "model.keras")).get_weights()
mine = model.get_weights()
print(json.dumps({"equal": len(mine) == len(theirs) and all(np.array_equal(a, b) for a, b in zip(mine, theirs)),
                  "unseen": evaluate_split(model, splits["unseen"], 50)["accuracy"]}))
"""


@pytest.mark.slow
def test_a_program_that_starts_as_the_command_ends_with_the_weights_of_python_m_train(tmp_path):
    """README.rst's claim, across processes: ``python -m disentangle_tf.train --method
    recommended --deterministic`` and compile + fit in a program of its own that sets the
    command's environment variable and thread pools end with the same weights."""
    import json
    import os
    import subprocess
    import sys

    env = {key: value for key, value in os.environ.items()
           if key not in ("TF_ENABLE_ONEDNN_OPTS", "DISENTANGLE_TF_FAST")} | {"TF_CPP_MIN_LOG_LEVEL": "2"}
    config = tmp_path / "network.json"
    config.write_text(json.dumps(TINY_ARCHITECTURE))
    run = tmp_path / "run"
    command = subprocess.run(
        [sys.executable, "-m", "disentangle_tf.train", "--dataset", "synthetic", "--method", "recommended",
         "--deterministic", "--image-size", *map(str, IMAGE_SIZE), "--epochs", str(EPOCHS), "--config", str(config),
         "--set", "saved_model=false", "--set", "figures=false", "--output-dir", str(run), "--quiet"],
        capture_output=True, text=True, env=env, timeout=900)
    assert command.returncode == 0, command.stderr[-2000:]
    program = subprocess.run([sys.executable, "-c", FROM_PYTHON, *map(str, IMAGE_SIZE), str(EPOCHS),
                              json.dumps(TINY_ARCHITECTURE), str(run)], capture_output=True, text=True, env=env,
                             timeout=900)
    assert program.returncode == 0, program.stderr[-2000:]
    result = json.loads(program.stdout.strip().splitlines()[-1])
    assert result["equal"]
    assert result["unseen"] == json.loads((run / "metrics.json").read_text())["unseen"]["accuracy"]


def test_a_run_records_its_method_name_and_what_its_settings_change():
    from disentangle_tf.run.config import RunConfig
    from disentangle_tf.run.methods import method_of_run

    config = RunConfig().replace({"independence_weight": 2.0, "adversary_steps": 3, "epochs": 4})
    method, overrides = method_of_run("recommended", config.to_flat_dict())
    assert method.name == "recommended" and method.description == METHODS["recommended"].description
    # What the model's compile and fit do; the epochs are the run's, not the model's.
    assert (method.settings["independence_weight"], method.settings["adversary_steps"],
            method.settings["independence_layers"], method.settings["precise_batch_norm"]) == (2.0, 3, "block_maps", 30)
    assert set(method.settings) == {*COMPILE_KEYS, "sampling", "mixup", "mixup_partners", "precise_batch_norm",
                                    "last_layer_retraining",
                                    "conditional_adversaries"}
    assert overrides == {"independence_weight": 2.0, "adversary_steps": 3}
    # A grid's chosen point differs from the grid's list: an override.
    _, chosen = method_of_run("paper grid", RunConfig().replace(
        {**METHODS["paper"].settings, "adversarial_weight": 0.1, "independence_weight": 0.0,
         "independence_layers": "features", "sampling": "uniform", "precise_batch_norm": 0,
         "last_layer_retraining": False}).to_flat_dict())
    assert chosen == {"adversarial_weight": 0.1}
    model = build_tiny_model()
    model.compile(method=method, **overrides)
    assert model.compiled_method["settings"]["independence_weight"] == 2.0
    assert model.compiled_method["overrides"] == {"independence_weight": 2.0, "adversary_steps": 3}


def test_the_paper_method_is_compile_without_a_method():
    # compile() with no method is what it was: the paper's method, nothing after training.
    assert PAPER_COMPILE == {"adversarial_weight": 0.01, "adversary_steps": 5, "adversary_batches": "fresh",
                             "adversarial_objective": "maximize_cross_entropy", "independence_weight": 0.0,
                             "independence_bandwidth": "class", "adversarial_training": "alternating",
                             "independence_layers": "features", "independence_penalty": "hsic",
                             "group_dro_step_size": 0.0}
    plain, paper = build_tiny_model(), build_tiny_model()
    plain.compile()
    paper.compile(method="paper")
    assert plain.compiled_method is None and "method" not in plain.get_compile_config()
    assert paper.compiled_method["name"] == "paper" and paper.compiled_method["overrides"] == {}
    def unnamed(config):  # the optimizers' names differ by the count Keras appends
        for key in ("optimizer", "adversary_optimizer"):
            config[key] = {**config[key], "config": {**config[key]["config"], "name": None}}
        return config

    without_record = {k: v for k, v in paper.get_compile_config().items() if k != "method"}
    assert unnamed(without_record) == unnamed(plain.get_compile_config())
    for model in (plain, paper):
        assert {key: getattr(model, key) for key in COMPILE_KEYS} == PAPER_COMPILE
        assert (model.sampling, model.precise_batch_norm_batches, model.last_layer_retraining) == ("uniform", 0, False)
    # The same data through both: the same training.
    from disentangle_tf.data.pipeline import make_training_dataset

    data = build_random_data(count=16)
    for model in (plain, paper):
        model.fit(make_training_dataset(data, batch_size=8, adversary_steps=5, seed=3), epochs=1, verbose=0)
    for a, b in zip(plain.get_weights(), paper.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_an_explicit_argument_beats_the_method():
    model = build_tiny_model()
    model.compile(method="recommended", independence_weight=5, precise_batch_norm=3)
    assert model.independence_weight == 5.0 and model.precise_batch_norm_batches == 3
    assert model.independence_layers == RECOMMENDED["independence_layers"] == "block_maps"
    assert (model.adversarial_weight, model.adversary_batches, model.sampling) == (0.0, "same", "group_balanced")
    method = model.compiled_method
    assert method["overrides"] == {"independence_weight": 5.0, "precise_batch_norm": 3}
    assert method["settings"]["independence_weight"] == 5.0 and method["settings"]["last_layer_retraining"] is True
    # A grid method's point is chosen by its argument.
    model.compile(method="paper grid", adversarial_weight=0.1)
    assert model.adversarial_weight == 0.1 and model.adversary_batches == "fresh"


def test_a_bad_method_is_one_value_error_line():
    model = build_tiny_model()
    with pytest.raises(ValueError) as info:
        model.compile(method="recomended")
    one_line(info, "unknown method 'recomended'", "expected one of:", "'recommended'", "'paper'", "'lambda=0'")
    assert "'recommended ensemble'" not in str(info.value)  # only the methods a model can take
    with pytest.raises(ValueError) as info:
        model.compile(method="recommended ensemble")
    one_line(info, "ensemble_size 3", "--method 'recommended ensemble'")
    with pytest.raises(ValueError) as info:
        model.compile(method="paper grid")
    one_line(info, "grid of 2 points over adversarial_weight", "adversarial_weight=...")
    with pytest.raises(ValueError) as info:
        model.compile(method="conditional adversaries", adversarial_weight=0.1)
    one_line(info, "conditional_adversaries=True")
    with pytest.raises(ValueError) as info:
        model.compile(precise_batch_norm=30)
    one_line(info, "precise_batch_norm: a method's setting", "method='paper'")
    with pytest.raises(TypeError):
        model.compile(method=3)


@pytest.mark.keras_internals
def test_the_method_is_saved_with_the_model(tmp_path):
    model = build_tiny_model()
    model.compile(method="recommended", independence_weight=5)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.compiled_method == model.compiled_method
    assert loaded.compiled_method["name"] == "recommended"
    assert loaded.get_compile_config() == model.get_compile_config()
    assert (loaded.independence_weight, loaded.independence_layers, loaded.sampling,
            loaded.precise_batch_norm_batches, loaded.last_layer_retraining) == (5.0, "block_maps", "group_balanced",
                                                                                  30, True)
    # A Method of one's own, restored from the configuration alone.
    mine = Method("mine", {**RECOMMENDED, "last_layer_retraining": False}, "recommended, classifiers as trained")
    model.compile(method=mine)
    clone = clone_model(model)
    clone.compile_from_config(model.get_compile_config())
    assert clone.compiled_method == model.compiled_method
    assert clone.compiled_method["description"] == "recommended, classifiers as trained"
    assert not clone.last_layer_retraining and clone.precise_batch_norm_batches == 30


def test_the_method_table_is_the_run_layers():
    from disentangle_tf.run import methods as run_methods

    assert run_methods.METHODS is METHODS and run_methods.Method is Method
    assert run_methods.get_method("recommended") is METHODS["recommended"]


class _WeightsAtTrainEnd(keras.callbacks.Callback):
    def on_train_end(self, logs=None):
        self.kernels = [np.array(c.layers[-1].kernel) for c in self.model.classifiers]


def test_a_dataset_needs_the_training_arrays_for_the_steps_after_training():
    from disentangle_tf.data.pipeline import make_training_dataset

    data = build_random_data(count=16)
    model = build_tiny_model()
    model.compile(method="recommended", precise_batch_norm=2)
    dataset = make_training_dataset(data, batch_size=8, sampling="group_balanced")
    with pytest.raises(ValueError) as info:
        model.fit(dataset, epochs=1, verbose=0)
    one_line(info, "post_fit_data", "'recommended'")
    seen = _WeightsAtTrainEnd()
    model.fit(dataset, epochs=1, verbose=0, callbacks=[seen], post_fit_data=(data.images, data.labels))
    # The refit runs after the user's callbacks: they saw the kernels as trained.
    assert any(not np.array_equal(k, np.array(c.layers[-1].kernel))
               for k, c in zip(seen.kernels, model.classifiers))
    plain = build_tiny_model()
    plain.compile(adversary_batches="same")
    with pytest.raises(ValueError) as info:
        plain.fit(data.images, data.labels, batch_size=8, verbose=0, post_fit_data=(data.images, data.labels))
    one_line(info, "post_fit_data", "method='recommended'")


def test_fit_from_arrays_draws_the_methods_batches_with_its_seed():
    from disentangle_tf.run.determinism import op_determinism_restored

    data = build_random_data(count=16)
    trained = []
    with op_determinism_restored():
        tf.config.experimental.enable_op_determinism()
        for seed in (0, 0, 1):
            model = build_tiny_model()
            model.compile(method="lambda=0")
            model.fit(data.images, data.labels, batch_size=8, epochs=1, verbose=0, seed=seed)
            trained.append(model.get_weights())
    assert all(np.array_equal(a, b) for a, b in zip(trained[0], trained[1]))
    assert not all(np.array_equal(a, b) for a, b in zip(trained[0], trained[2]))
    with pytest.raises(ValueError) as info:
        model.fit(data.images, data.labels, batch_size=8, verbose=0, sample_weight=np.ones(16))
    one_line(info, "sample_weight", "class_weight")
