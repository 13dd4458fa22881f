"""Shared fixtures of the test suite: tiny models and random labelled data.

Every model built here is tiny (16 x 16 images, two residual blocks of 4 and 8
filters, one hidden head layer of 8 units) so that the whole suite runs on a couple of
CPU cores in a few minutes.
"""

from __future__ import annotations

import contextlib

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


@pytest.fixture(autouse=True)
def _float32_policy():
    """Every test starts and ends under the float32 dtype policy."""
    keras.mixed_precision.set_global_policy("float32")
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy("float32")


def run_predict(arguments, capsys):
    """``(exit code, stdout, stderr)`` of the predict command run in this process."""
    from disentangle_tf.cli.common import run_command
    from disentangle_tf.cli.predict import main

    capsys.readouterr()
    try:
        run_command(main, [str(argument) for argument in arguments], prog_name="predict")
        code = 0
    except SystemExit as exit:
        code = exit.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err
