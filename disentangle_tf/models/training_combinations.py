"""The combinations of labels a model was trained on, and whether a prediction is one of them.

A *combination* is one class per task, in task order (in the synthetic shapes, with tasks
``(background, shape)``: ``(1, 0)`` is a circle on white). A model that never saw a
combination in training may still predict it, and its predictions on images of that
combination are the least trustworthy (the synthetic shapes' circles on black). The
training run records the training split's combinations with their counts in the model
(:class:`TrainingCombinations`, kept by ``get_config``), and the SavedModel flags every
image whose *predicted* labels form a combination absent from that record
(:func:`seen_combinations`).
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import tensorflow as tf

from ..data.combinations import Combinations, count_combinations  # noqa: F401  (part of this module's interface)

#: The name of the flag in the SavedModel's outputs and in ``predict``'s CSV.
SEEN_OUTPUT = "combination_seen_in_training"

def checked_combinations(combinations, classes: Sequence[int] | None = None) -> Combinations | None:
    """``combinations`` as a :data:`Combinations` record, or None for None.

    Args:
        combinations: pairs ``(labels, images)`` or dicts ``{"labels": [...], "images": n}``
            (``get_config``'s form); None: unknown.
        classes: the number of classes of each task, in order, to check the labels
            against; None: not checked.

    Raises:
        ValueError: for a combination of the wrong length, a class out of range, a
            repeated combination, or a count that is not a positive integer.
    """
    if combinations is None:
        return None
    record = []
    for entry in combinations:
        labels, images = (entry["labels"], entry["images"]) if isinstance(entry, Mapping) else entry
        labels = tuple(int(label) for label in labels)
        if classes is not None and (len(labels) != len(classes)
                                    or any(not 0 <= label < k for label, k in zip(labels, classes))):
            raise ValueError(f"training_combinations: {list(labels)} is not a class per task "
                             f"(classes per task: {list(classes)})")
        if int(images) != images or images < 1:
            raise ValueError(f"training_combinations: {list(labels)} has {images} images; expected 1 or more")
        record.append((labels, int(images)))
    if len({labels for labels, _ in record}) != len(record):
        raise ValueError("training_combinations: a combination is given twice")
    return tuple(sorted(record))


def seen_combinations(predicted, combinations: Combinations) -> tf.Tensor:
    """Whether each row of ``predicted`` is one of ``combinations`` (graph-friendly).

    Args:
        predicted: int ``(N, T)``: each image's class per task, in task order.
        combinations: the record; its labels become a constant ``(M, T)`` of the graph.

    Returns:
        bool ``(N,)``: true where the row equals the labels of a combination.
    """
    predicted = tf.cast(predicted, tf.int32)
    width = predicted.shape[-1]
    table = tf.constant(np.array([labels for labels, _ in combinations], np.int32).reshape(-1, width),
                        name="training_combinations")
    return tf.reduce_any(tf.reduce_all(tf.equal(predicted[:, None, :], table[None]), axis=-1), axis=-1)


def is_seen(predicted: np.ndarray, combinations: Combinations) -> np.ndarray:
    """:func:`seen_combinations` in numpy: bool ``(N,)`` for int ``(N, T)`` ``predicted``."""
    seen = {labels for labels, _ in combinations}
    return np.array([tuple(int(v) for v in row) in seen for row in np.asarray(predicted)], dtype=bool)


class TrainingCombinations:
    """The ``training_combinations`` of a model: what its training data held, or None.

    A mixin of :class:`~disentangle_tf.models.Disentangler`: its constructor takes
    ``training_combinations`` (pairs ``(labels, images)``, or None, the default: not
    recorded), and ``get_config`` keeps it, so that ``model.keras`` and
    ``from_config(get_config())`` carry it. The training run sets it from the training
    split's labels (:func:`count_combinations`); the attribute can be set at any time,
    and is checked against the model's tasks when set.
    """

    def __init__(self, *args, training_combinations=None, **kwargs):
        super().__init__(*args, **kwargs)
        self._training_combinations = checked_combinations(training_combinations)

    @property
    def training_combinations(self) -> Combinations | None:
        """``((labels, images), ...)``: every combination of the training split, labels in task
        order, with its count; None if the model does not record them."""
        return self._training_combinations

    @training_combinations.setter
    def training_combinations(self, combinations) -> None:
        tasks = getattr(self, "tasks", None)
        classes = None if tasks is None else [task.num_classes for task in tasks]
        self._training_combinations = checked_combinations(combinations, classes)

    def get_config(self):
        combinations = self._training_combinations
        return {**super().get_config(), "training_combinations": None if combinations is None else [
            {"labels": list(labels), "images": images} for labels, images in combinations]}
