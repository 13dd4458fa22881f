"""Shared fixtures of the test suite: tiny models and random labelled data.

Every model built here is tiny (16 x 16 images, two residual blocks of 4 and 8
filters, one hidden head layer of 8 units) so that the whole suite runs on a couple of
CPU cores in a few minutes.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import warnings

from disentangle_tf.fast.onednn import prefer_onednn

prefer_onednn()  # as the commands do, before TensorFlow loads

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import disentangle_tf  # noqa: E402
from disentangle_tf.data.labelled_images import LabelledImages  # noqa: E402
from disentangle_tf.models import Disentangler, TaskSpec  # noqa: E402
from disentangle_tf.models.methods import NEUTRAL  # noqa: E402

disentangle_tf.register_keras_classes()  # so that the tests load the package's model.keras files

IMAGE_SHAPE = (16, 16, 1)
"""``(height, width, channels)`` of the images of the tiny models."""

TINY_ARCHITECTURE = dict(
    encoder_filters=(4, 8),
    encoder_strides=(2, 2),
    stem_filters=4,
    head_units=(8,),
)
"""Constructor arguments of :class:`Disentangler` giving a tiny model."""

TINY_METHOD = {key: NEUTRAL[key] for key in ("independence_weight", "sampling", "precise_batch_norm",
                                             "last_layer_retraining")}
"""Settings for the runs of tests whose point is not the method: no penalty, uniform batches,
no steps after training. The default method's block-map penalty, recomputed batch-norm
statistics and refit take most of a tiny run's time (tracing the penalty alone, about two
thirds)."""

RESULTS_ONLY = {"saved_model": False, "figures": False}
"""Settings for the runs of tests whose point is neither the SavedModel export nor the
figures: a run writes ``model.keras``, ``logs/``, ``config.json`` and ``metrics.json`` alone.
The export and the figures take about 2.5 of a tiny run's seconds."""

DEFAULT_CLASSES = (2, 3, 2, 3)
"""Number of classes of the i-th task when a test only names its tasks."""


SMALL_SYNTHETIC_FRACTION = 5
"""The synthetic shapes in tests: every group of every split a fifth of the paper's count."""


@contextlib.contextmanager
def small_synthetic():
    """The synthetic shapes in this process at a fifth of their size (120 circles on white,
    20 rectangles on white and 100 on black in training; 20 per group elsewhere): the same
    groups and generator, for tests whose point is not the split's size."""
    from disentangle_tf.data import synthetic

    small = {split: {group: count // SMALL_SYNTHETIC_FRACTION for group, count in groups.items()}
             for split, groups in synthetic.SPLIT_COUNTS.items()}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(synthetic, "SPLIT_COUNTS", small)
        yield


SMALL_DIGITS_STEP = 2


@contextlib.contextmanager
def small_digits():
    """The digits sets in this process from every other source image of each split (about
    half the images, every group kept): the same generator and splits, for tests whose
    point is not the split's size."""
    from disentangle_tf.data import digits

    real = digits._split_sources

    def every_other(split, seed):
        return real(split, seed)[::SMALL_DIGITS_STEP]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(digits, "_split_sources", every_other)
        yield


def as_task_specs(tasks) -> list[TaskSpec]:
    """TaskSpecs from a list of names, ``(name, num_classes)`` pairs or TaskSpecs."""
    specs = []
    for index, task in enumerate(tasks):
        if isinstance(task, TaskSpec):
            specs.append(task)
        elif isinstance(task, str):
            specs.append(TaskSpec(task, DEFAULT_CLASSES[index % len(DEFAULT_CLASSES)]))
        else:
            specs.append(TaskSpec(*task))
    return specs


def build_tiny_model(tasks=("a", "b"), image_shape=IMAGE_SHAPE, seed: int = 0, **overrides) -> Disentangler:
    """A tiny, uncompiled :class:`Disentangler` with seeded initial weights."""
    keras.utils.set_random_seed(seed)
    arguments = {**TINY_ARCHITECTURE, "l2_weight": 1e-4, **overrides}
    return Disentangler(as_task_specs(tasks), input_shape=image_shape, **arguments)


def build_random_data(tasks=("a", "b"), count: int = 8, image_shape=IMAGE_SHAPE, seed: int = 0) -> LabelledImages:
    """``count`` random images with random labels covering every class of every task."""
    rng = np.random.default_rng(seed)
    images = rng.normal(size=(count, *image_shape)).astype("float32")
    labels = {}
    for spec in as_task_specs(tasks):
        # Every class appears (when count allows it), in a seeded random order.
        values = np.arange(count) % spec.num_classes
        labels[spec.name] = rng.permutation(values).astype("int64")
    return LabelledImages(images=images, labels=labels)


def clone_model(model: Disentangler) -> Disentangler:
    """A new, uncompiled model with the same config and the same weights as ``model``."""
    clone = Disentangler.from_config(model.get_config())
    clone.set_weights(model.get_weights())
    return clone


def values(variables) -> list[np.ndarray]:
    """Numpy copies of the values of ``variables``."""
    return [np.array(keras.ops.convert_to_numpy(v)) for v in variables]


@pytest.fixture
def tiny_model():
    """Factory ``tiny_model(tasks=("a", "b"), image_shape=..., seed=0, **overrides)``."""
    return build_tiny_model


@pytest.fixture
def random_data():
    """Factory ``random_data(tasks=("a", "b"), count=8, image_shape=..., seed=0)``."""
    return build_random_data


@contextlib.contextmanager
def eager_compiles():
    """Every model compiled in the block runs its steps eagerly (``run_eagerly=True``), the
    runs of the package's commands and of :func:`disentangle_tf.run.training.run` included.

    For tests of what is done with a few tiny trainings of a handful of steps each, whose
    point is not the compiled steps nor the fast paths: tracing a run's training step (its
    penalty, its metrics) costs seconds, far more than a few steps run eagerly. Not for runs
    of more than about ten steps: a step runs about ten times slower eagerly."""
    real = Disentangler.compile

    def compile_eagerly(self, *args, **kwargs):
        return real(self, *args, **{**kwargs, "run_eagerly": True})

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Disentangler, "compile", compile_eagerly)
        yield


@pytest.fixture
def eager_runs():
    """The test's models run their steps eagerly: :func:`eager_compiles`."""
    with eager_compiles():
        yield


@pytest.fixture(autouse=True)
def _float32_policy():
    """Every test starts and ends under the float32 dtype policy."""
    keras.mixed_precision.set_global_policy("float32")
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy("float32")


CLI_RUN_CONFIG = {"epochs": 2, "image_size": [16, 20], "encoder_filters": [4, 8], "encoder_strides": [2, 2],
                  "stem_filters": 4, "head_units": [8], "adversary_steps": 2}
"""The config file of :func:`cli_run` (its seed, 3, comes from the ``--seed`` option)."""


@pytest.fixture(scope="session")
def cli_run(tmp_path_factory):
    """One tiny run of ``python -m disentangle_tf.train --dataset synthetic`` in a process of
    its own, its output not a terminal and TensorFlow's log level not set, shared by the tests
    of what the command writes and prints: ``(output directory, subprocess.CompletedProcess)``.

    The default method (``selected``, which trains the recommended setting on the synthetic
    shapes: no combination of their labels can be held out) over :data:`CLI_RUN_CONFIG`,
    ``--seed 3``. Tests that use it carry
    ``pytest.mark.xdist_group("cli_run")`` so that one worker trains it once."""
    import subprocess

    root = tmp_path_factory.mktemp("cli_run")
    config = root / "tiny.yaml"
    config.write_text(json.dumps(CLI_RUN_CONFIG))  # JSON is valid YAML
    out = root / "run"
    env = {key: value for key, value in os.environ.items() if not key.startswith("TF_CPP")}
    result = subprocess.run([sys.executable, "-m", "disentangle_tf.train", "--dataset", "synthetic", "--config",
                             str(config), "--seed", "3", "--output-dir", str(out)],
                            capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    return out, result


EXPORTED_IMAGE_SHAPE = (16, 20, 1)
"""The image shape of :func:`exported_run`'s model."""


@pytest.fixture(scope="session")
def exported_run(tmp_path_factory):
    """A directory laid out as a training run's, exported once for the tests that read an
    export and leave it as it is: in ``saved_model/``, the SavedModel of an untrained tiny model
    of tasks ``a`` (2 classes) and ``b`` (3) on images of :data:`EXPORTED_IMAGE_SHAPE`, with the
    combinations of labels a training run records."""
    from disentangle_tf.export import export_saved_model

    run = tmp_path_factory.mktemp("exported") / "run"
    run.mkdir()
    model = build_tiny_model(("a", "b"), image_shape=EXPORTED_IMAGE_SHAPE)
    model.training_combinations = [((0, 0), 5), ((1, 1), 5), ((1, 2), 2)]  # as a training run records them
    export_saved_model(model, run / "saved_model")
    return run


def run_cli(command, arguments, capsys, prog_name: str = "cmd"):
    """``(exit code, stdout, stderr)`` of a package command run in this process as its
    ``python -m`` entry point runs it (:func:`~disentangle_tf.cli.common.run_command`).

    ``command`` is a click command or the name of its module (``"disentangle_tf.cli.train"``);
    ``arguments`` may hold paths and numbers. A test whose point is the process boundary (exit
    codes seen by a shell, signals, kills, several processes) starts a real process instead.
    """
    import importlib

    from disentangle_tf.cli.common import run_command

    if isinstance(command, str):
        command = importlib.import_module(command).main
    capsys.readouterr()
    environment = dict(os.environ)  # the commands quieten TensorFlow's logs through it
    try:
        with warnings.catch_warnings():
            # As in a process of its own: Python's default filters, and a warning printed on
            # stderr (pytest would otherwise record it out of sight of the test).
            warnings.resetwarnings()
            warnings.simplefilter("default")
            for category in (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning):
                warnings.simplefilter("ignore", category)
            warnings.showwarning = _print_warning
            run_command(command, [str(argument) for argument in arguments], prog_name=prog_name)
        code = 0
    except SystemExit as exit:
        code = exit.code
    finally:
        os.environ.clear()
        os.environ.update(environment)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


class _Resolved(Exception):
    """Raised in place of a command's work, once its settings are resolved."""


def resolve_cli(command, arguments, capsys, monkeypatch, prog_name: str = "cmd"):
    """``(exit code, stderr, RunConfig or None)`` of a package command run in this process
    up to the resolution of its settings (its ``resolve_config`` or ``resolve_config_and_given``),
    then stopped: what a
    command line resolves to, without loading data or training.

    ``command`` is the name of the command's module (``"disentangle_tf.cli.train"``);
    ``arguments`` may hold paths and numbers. The RunConfig is None when the command stopped
    before it (a refused option: the exit code and stderr say so).
    """
    import importlib

    from disentangle_tf.cli.common import run_command
    from disentangle_tf.run import run_settings

    module = importlib.import_module(command)
    name = "resolve_config" if hasattr(module, "resolve_config") else "resolve_config_and_given"
    real = getattr(run_settings, name)
    resolved = []

    def resolve_then_stop(*args, **kwargs):
        result = real(*args, **kwargs)
        resolved.append(result[0] if isinstance(result, tuple) else result)
        raise _Resolved

    monkeypatch.setattr(module, name, resolve_then_stop)
    capsys.readouterr()
    code = 0
    try:
        run_command(module.main, [str(argument) for argument in arguments], prog_name=prog_name)
    except SystemExit as exit:
        code = exit.code
    except _Resolved:
        pass
    return code, capsys.readouterr().err, (resolved[-1] if resolved else None)


def _print_warning(message, category, filename, lineno, file=None, line=None):
    sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))


@pytest.fixture()
def run_module(capsys):
    """``run_module("disentangle_tf.train", *args)``: the command of that ``python -m`` module
    run in this process (:func:`run_cli`), as an object with ``returncode``, ``stdout`` and
    ``stderr``."""
    from types import SimpleNamespace

    def run(module, *args):
        code, out, err = run_cli(module.replace("disentangle_tf.", "disentangle_tf.cli.", 1), args, capsys,
                                 prog_name=f"python -m {module}")
        return SimpleNamespace(returncode=code, stdout=out, stderr=err)

    return run


def run_predict(arguments, capsys):
    """``(exit code, stdout, stderr)`` of the predict command run in this process."""
    return run_cli("disentangle_tf.cli.predict", arguments, capsys, prog_name="predict")
