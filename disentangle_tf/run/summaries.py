"""A run's TensorBoard logs: grouped curves, sample images, hyper-parameters, final results.

The logs of a run (``output_dir/logs``) hold three TensorBoard runs:

- ``train`` and ``validation``: every value of Keras's epoch logs, one point per epoch
  (step = epochs done), under grouped tags (:func:`tag_of`): ``task/<task>_accuracy``,
  ``task/<task>_loss``, ``adversary/<a>_to_<b>_accuracy`` (the adversary reading task
  a's features and predicting task b), ``loss/tasks`` (the sum of the task losses),
  ``loss/encoder``, ``loss/adversary``, ``loss/independence``, ``penalty/lambda``,
  ``penalty/independence_weight``, ``penalty/scale``, and in ``train``
  ``optimizer/learning_rate`` and ``optimizer/adversary_learning_rate``;
- ``.`` (the logs directory itself): a grid of training images
  (``data/training_images``), the hyper-parameters (TensorBoard's HParams plugin) and
  the final results ``final/<split>/<task>_accuracy`` and
  ``final/<split>/adversary_<a>_to_<b>_accuracy`` of every evaluated split, the
  HParams metrics (characters other than letters, digits and ``._-`` in a split's
  name become ``_``, as in the scores :func:`~disentangle_tf.evaluation.evaluate.write_evaluation`
  writes beside them).
"""

from __future__ import annotations

import math
import pathlib
from typing import Mapping, Sequence

import keras
import numpy as np
import tensorflow as tf

from ..evaluation.evaluate import final_tag

#: Keras log names (without ``val_``) of the run's summed losses and penalty, and their tags.
FIXED_TAGS = {
    "loss": "loss/tasks",
    "encoder_loss": "loss/encoder",
    "adversary_loss": "loss/adversary",
    "independence_loss": "loss/independence",
    "penalty_scale": "penalty/scale",
    "effective_adversarial_weight": "penalty/lambda",
    "effective_independence_weight": "penalty/independence_weight",
    "learning_rate": "optimizer/learning_rate",
    "best_validation_epoch": "selection/best_validation_epoch",
}

#: Name of the image summary of training images.
IMAGES_TAG = "data/training_images"


def tag_of(name: str, task_names: Sequence[str]) -> tuple[str, str]:
    """The TensorBoard run and grouped tag of a value of Keras's epoch logs.

    Args:
        name: a key of the logs, e.g. ``"val_shape_accuracy"``.
        task_names: the model's tasks.

    Returns:
        ``(run, tag)``: run ``"validation"`` for a ``val_`` key, else ``"train"``; the
        tag as the module docstring lists (``other/<name>`` for a name it does not
        know).

    Example:

    >>> tag_of("val_adversary_shape_to_background_accuracy", ["background", "shape"])
    ('validation', 'adversary/shape_to_background_accuracy')
    """
    run = "train"
    if name.startswith("val_"):
        run, name = "validation", name[len("val_"):]
    if name in FIXED_TAGS:
        return run, FIXED_TAGS[name]
    for task in task_names:
        if name in (f"{task}_accuracy", f"{task}_loss"):
            return run, f"task/{name}"
    if name.startswith("adversary_"):
        return run, f"adversary/{name[len('adversary_'):]}"
    if name.endswith("_loss"):
        return run, f"loss/{name[:-len('_loss')]}"
    return run, f"other/{name}"


def final_tags(splits: Sequence[str], task_names: Sequence[str], adversary_pairs: Sequence[str] = ()) -> list[str]:
    """The tags of the final results (:func:`write_final_results`) of ``splits``.

    ``adversary_pairs`` are ``"<features_task>-><label_task>"``, as in ``metrics.json``.
    """
    tags = []
    for split in splits:
        tags += [final_tag(split, task, "accuracy") for task in task_names]
        tags += [final_tag(split, _adversary_name(pair), "accuracy") for pair in adversary_pairs]
    return tags


def _adversary_name(pair: str) -> str:
    return "adversary_" + pair.replace("->", "_to_")


def image_grid(images, columns: int = 4, min_height: int = 64, gap: int = 2) -> np.ndarray:
    """Images tiled into one picture for display, each rescaled to [0, 1] on its own.

    The network sees z-scored images; a picture of those values would be clipped.
    Each image is mapped linearly from its own minimum and maximum to [0, 1] (a
    constant image becomes 0), enlarged by pixel repetition to at least ``min_height``
    pixels high, and laid out in rows of ``columns`` with ``gap`` pixels of grey (0.5)
    between them.

    Args:
        images: ``(N, H, W, C)`` array, any real dtype, C = 1 or 3.
        columns: images per row.
        min_height: the least height of one image on screen (pixels).
        gap: pixels between images.

    Returns:
        float32 ``(rows * (H' + gap) - gap, columns' * (W' + gap) - gap, C)`` in [0, 1].

    Raises:
        ValueError: for an array that is not ``(N, H, W, C)`` with N > 0.
    """
    images = np.asarray(images, np.float64)
    if images.ndim != 4 or len(images) == 0:
        raise ValueError(f"images: expected a non-empty (N, H, W, C) array; got shape {images.shape}")
    low = images.min(axis=(1, 2, 3), keepdims=True)
    span = images.max(axis=(1, 2, 3), keepdims=True) - low
    scaled = np.where(span > 0, (images - low) / np.where(span > 0, span, 1.0), 0.0)
    factor = max(1, math.ceil(min_height / images.shape[1]))
    scaled = scaled.repeat(factor, axis=1).repeat(factor, axis=2)
    count, height, width, channels = scaled.shape
    columns = min(columns, count)
    rows = math.ceil(count / columns)
    grid = np.full((rows * (height + gap) - gap, columns * (width + gap) - gap, channels), 0.5)
    for index, image in enumerate(scaled):
        row, column = divmod(index, columns)
        grid[row * (height + gap):row * (height + gap) + height,
             column * (width + gap):column * (width + gap) + width] = image
    return grid.astype(np.float32)


def _hparam_value(value):
    if isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value))
    return str(value)


def write_run_start(log_dir, hparams: Mapping, metric_tags: Sequence[str], images=None, labels: str = "") -> None:
    """The hyper-parameters and a grid of training images, in the logs' own run (``log_dir``).

    Args:
        log_dir: the run's ``logs`` directory.
        hparams: name -> value (lists are written as comma-separated text).
        metric_tags: the HParams plugin's metrics: :func:`final_tags`.
        images: ``(N, H, W, C)`` training images, shown by :func:`image_grid`; None: none.
        labels: the images' description in TensorBoard (their labels).
    """
    from tensorboard.plugins.hparams import api as hp

    values = {name: _hparam_value(value) for name, value in hparams.items()}
    writer = tf.summary.create_file_writer(str(log_dir))
    with writer.as_default():
        hp.hparams_config(hparams=[hp.HParam(name) for name in values],
                          metrics=[hp.Metric(tag) for tag in metric_tags])
        hp.hparams(values)
        if images is not None:
            tf.summary.image(IMAGES_TAG, image_grid(images)[None], step=0,
                             description=labels or "training images, each rescaled to [0, 1]")
    writer.close()


def write_final_results(log_dir, metrics: Mapping, step: int) -> None:
    """``final/<split>/<task>_accuracy`` and the adversaries' accuracies, at ``step``.

    Args:
        log_dir: the run's ``logs`` directory (the logs' own run, with the hyper-parameters).
        metrics: per split, :func:`~disentangle_tf.evaluation.evaluate.evaluate_split`'s result.
        step: the epochs trained.
    """
    writer = tf.summary.create_file_writer(str(log_dir))
    with writer.as_default():
        for split, values in metrics.items():
            for task, value in values.get("accuracy", {}).items():
                tf.summary.scalar(final_tag(split, task, "accuracy"), value, step=step)
            for pair, value in values.get("adversary_accuracy", {}).items():
                tf.summary.scalar(final_tag(split, _adversary_name(pair), "accuracy"), value, step=step)
    writer.close()


def _number(value) -> float | None:
    try:
        return float(keras.ops.convert_to_numpy(value))
    except (TypeError, ValueError):
        return None


class EpochSummaries(keras.callbacks.Callback):
    """Every value of the epoch's logs under a grouped tag (:func:`tag_of`), and the learning rates.

    Writes ``log_dir/train`` and ``log_dir/validation`` at step = epochs done; adds
    ``optimizer/learning_rate`` and ``optimizer/adversary_learning_rate`` (the
    model's ``optimizer`` and ``adversary_optimizer``) to ``train``. Place it after
    the callbacks that add values to the logs (the penalty schedule, model selection).

    Args:
        log_dir: the run's ``logs`` directory.
        task_names: the model's tasks.
    """

    def __init__(self, log_dir, task_names: Sequence[str]):
        super().__init__()
        self.log_dir = pathlib.Path(log_dir)
        self.task_names = tuple(task_names)
        self._writers = {}

    def _writer(self, run: str):
        if run not in self._writers:
            self._writers[run] = tf.summary.create_file_writer(str(self.log_dir / run))
        return self._writers[run]

    def on_epoch_end(self, epoch, logs=None):
        values = {}
        for name, value in (logs or {}).items():
            number = _number(value)
            if number is not None:
                values.setdefault(tag_of(name, self.task_names)[0], {})[tag_of(name, self.task_names)[1]] = number
        for tag, attribute in (("optimizer/learning_rate", "optimizer"),
                               ("optimizer/adversary_learning_rate", "adversary_optimizer")):
            optimizer = getattr(self.model, attribute, None)
            if optimizer is not None:
                number = _number(optimizer.learning_rate)
                if number is not None:
                    values.setdefault("train", {})[tag] = number
        for run, scalars in values.items():
            with self._writer(run).as_default():
                for tag, number in scalars.items():
                    tf.summary.scalar(tag, number, step=epoch + 1)
            self._writer(run).flush()

    def on_train_end(self, logs=None):
        for writer in self._writers.values():
            writer.close()
        self._writers = {}
