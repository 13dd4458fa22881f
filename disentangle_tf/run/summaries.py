"""A run's TensorBoard logs: grouped curves, sample images, hyper-parameters, final results.

The logs of a run (``output_dir/logs``) hold three TensorBoard runs:

- ``train`` and ``validation``: every value of Keras's epoch logs, one point per epoch
  (step = epochs done), under grouped tags (:func:`tag_of`): ``1_task/<task>_accuracy``,
  ``1_task/<task>_loss``, ``2_loss/tasks`` (the sum of the task losses),
  ``2_loss/encoder``, ``2_loss/adversary``, ``2_loss/independence``,
  ``3_penalty/lambda``, ``3_penalty/independence_weight``, ``3_penalty/scale``,
  ``4_adversary/<a>_to_<b>_accuracy`` and ``_loss`` (the adversary reading task a's
  features and predicting task b), in ``train`` ``5_optimizer/learning_rate`` and
  ``5_optimizer/adversary_learning_rate``, and ``6_selection/best_validation_epoch``;
- ``.`` (the logs directory itself): a grid of training images
  (``7_data/training_images``), the hyper-parameters (TensorBoard's HParams plugin),
  the final results as one markdown table (``final_results``, TensorBoard's Text
  dashboard: every split's task and adversary accuracies, the adversaries' chance
  levels and the images predicted on a combination absent from training, under what the
  run achieved in words) and each task's accuracy on every evaluated split,
  ``final/<split>/<task>_accuracy``, the HParams plugin's metrics (characters other
  than letters, digits and ``._-`` in a split's name become ``_``).

TensorBoard's Time Series dashboard orders the groups (a tag's part before its first
``/``) by their names, digits first and compared as numbers, and opens the first two:
the numbers put the tasks' curves first and the losses second.
"""

from __future__ import annotations

import math
import pathlib
from typing import Mapping, Sequence

import keras
import numpy as np
import tensorflow as tf

from ..evaluation.evaluate import final_tag
from .results_markdown import results_markdown
from .writes import RESUMES, close_quietly, writing

#: The groups of tags, in the order TensorBoard shows them (it sorts the names, digits first).
GROUPS = {"task": "1_task", "loss": "2_loss", "penalty": "3_penalty", "adversary": "4_adversary",
          "optimizer": "5_optimizer", "selection": "6_selection", "data": "7_data", "other": "8_other"}

#: Keras log names (without ``val_``) of the run's summed losses and penalty, and their tags.
FIXED_TAGS = {
    "loss": f"{GROUPS['loss']}/tasks",
    "encoder_loss": f"{GROUPS['loss']}/encoder",
    "adversary_loss": f"{GROUPS['loss']}/adversary",
    "independence_loss": f"{GROUPS['loss']}/independence",
    "penalty_scale": f"{GROUPS['penalty']}/scale",
    "effective_adversarial_weight": f"{GROUPS['penalty']}/lambda",
    "effective_independence_weight": f"{GROUPS['penalty']}/independence_weight",
    "learning_rate": f"{GROUPS['optimizer']}/learning_rate",
    "best_validation_epoch": f"{GROUPS['selection']}/best_validation_epoch",
}

#: Name of the image summary of training images.
IMAGES_TAG = f"{GROUPS['data']}/training_images"

#: Name of the text summary of the final results (a markdown table).
RESULTS_TAG = "final_results"


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
    ('validation', '4_adversary/shape_to_background_accuracy')
    """
    run = "train"
    if name.startswith("val_"):
        run, name = "validation", name[len("val_"):]
    if name in FIXED_TAGS:
        return run, FIXED_TAGS[name]
    for task in task_names:
        if name in (f"{task}_accuracy", f"{task}_loss"):
            return run, f"{GROUPS['task']}/{name}"
    if name.startswith("adversary_"):
        return run, f"{GROUPS['adversary']}/{name[len('adversary_'):]}"
    if name.endswith("_loss"):
        return run, f"{GROUPS['loss']}/{name[:-len('_loss')]}"
    return run, f"{GROUPS['other']}/{name}"


def final_tags(splits: Sequence[str], task_names: Sequence[str]) -> list[str]:
    """The tags of each task's final accuracy on each of ``splits`` (:func:`write_final_results`):
    the HParams plugin's metrics, ``final/<split>/<task>_accuracy``."""
    return [final_tag(split, task, "accuracy") for split in splits for task in task_names]


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
        metric_tags: the HParams plugin's metrics: :func:`final_tags` (each task's
            accuracy on each evaluated split).
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


def write_final_results(log_dir, metrics: Mapping, step: int, headline: Sequence[str] = ()) -> None:
    """The final results at ``step``: one markdown table, and each task's accuracy per split.

    Writes the text summary ``final_results`` (:func:`results_markdown`) and the scalars
    ``final/<split>/<task>_accuracy``, the HParams plugin's metrics.

    Args:
        log_dir: the run's ``logs`` directory (the logs' own run, with the hyper-parameters).
        metrics: per split, :func:`~disentangle_tf.evaluation.evaluate.evaluate_split`'s result.
        step: the epochs trained.
        headline: what the run achieved, in sentences
            (:func:`~disentangle_tf.run.headline.headline`), above the table.
    """
    writer = tf.summary.create_file_writer(str(log_dir))
    with writer.as_default():
        tf.summary.text(RESULTS_TAG, results_markdown(metrics, headline), step=step,
                        description="every evaluated split's accuracies (metrics.json has every score)")
        for split, values in metrics.items():
            for task, value in values.get("accuracy", {}).items():
                tf.summary.scalar(final_tag(split, task, "accuracy"), value, step=step)
    writer.close()


def _number(value) -> float | None:
    try:
        return float(keras.ops.convert_to_numpy(value))
    except (TypeError, ValueError):
        return None


class EpochSummaries(keras.callbacks.Callback):
    """Every value of the epoch's logs under a grouped tag (:func:`tag_of`), and the learning rates.

    Writes ``log_dir/train`` and ``log_dir/validation`` at step = epochs done; adds
    ``5_optimizer/learning_rate`` and ``5_optimizer/adversary_learning_rate`` (the
    model's ``optimizer`` and ``adversary_optimizer``) to ``train``. Place it after
    the callbacks that add values to the logs (the penalty schedule, model selection).

    Args:
        log_dir: the run's ``logs`` directory.
        task_names: the model's tasks.

    Raises:
        WriteError: at the end of an epoch, if its values cannot be written (a full disk,
            :func:`~disentangle_tf.run.writes.free_blocks`); the writers are closed.
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
        for tag, attribute in ((f"{GROUPS['optimizer']}/learning_rate", "optimizer"),
                               (f"{GROUPS['optimizer']}/adversary_learning_rate", "adversary_optimizer")):
            optimizer = getattr(self.model, attribute, None)
            if optimizer is not None:
                number = _number(optimizer.learning_rate)
                if number is not None:
                    values.setdefault("train", {})[tag] = number
        for run, scalars in values.items():
            with writing(self.log_dir / run, RESUMES, room=True, closing=[self]):
                with self._writer(run).as_default():
                    for tag, number in scalars.items():
                        tf.summary.scalar(tag, number, step=epoch + 1)
                self._writer(run).flush()

    def on_train_end(self, logs=None):
        self.close()

    def close(self):
        """Close the writers; what a failed write left unwritten is dropped."""
        close_quietly(self._writers.values())
        self._writers = {}
