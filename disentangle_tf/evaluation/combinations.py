"""A split's combinations of labels against those of training, and chance levels.

What :func:`~disentangle_tf.evaluation.evaluate.evaluate_split` adds to every split's
scores, given the combinations a model records of its training data
(:class:`~disentangle_tf.models.training_combinations.TrainingCombinations`):

- which of the split's *true* combinations training held, and which it never did (how a
  split such as the synthetic shapes' ``unseen`` is told apart from ``test``);
- how many images the model *predicts* a combination absent from training for (what the
  SavedModel's ``combination_seen_in_training`` flag marks false), and each task's
  accuracy on them and on the rest: how much the flag says about the errors.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..data.labelled_images import MISSING_LABEL
from ..models.training_combinations import Combinations, is_seen


def majority_rate(labels: np.ndarray) -> float | None:
    """The rate of the most frequent class among ``labels`` (``(N,)`` ints, -1 missing
    left out): the accuracy of always guessing it; None without a label."""
    labels = np.asarray(labels)
    labels = labels[labels != MISSING_LABEL]
    if not len(labels):
        return None
    return float(np.bincount(labels).max() / len(labels))


def _class_name(task, label: int) -> str:
    names = task.class_names
    return str(names[label]) if names and 0 <= label < len(names) else str(label)


def true_combinations(tasks: Sequence, labels: Sequence[np.ndarray], combinations: Combinations | None) -> dict | None:
    """Which of a split's true combinations training held.

    Args:
        tasks: the model's :class:`~disentangle_tf.task_spec.TaskSpec` list.
        labels: per task, in order, the split's ``(N,)`` labels (-1: missing).
        combinations: the model's record of its training data; None: unknown.

    Returns:
        None if ``combinations`` is None; else ``{"seen_in_training": images whose labels
        form a training combination, "absent_from_training": [{"labels": {task: class
        name}, "images": n}, ...] (label order), "without_every_label": images missing
        a label}``.
    """
    if combinations is None:
        return None
    columns = np.stack([np.asarray(y) for y in labels], axis=1) if len(labels) else np.zeros((0, 0), int)
    labelled = (columns != MISSING_LABEL).all(axis=1)
    seen = is_seen(columns[labelled], combinations)
    absent = []
    if (~seen).any():
        found, counts = np.unique(columns[labelled][~seen], axis=0, return_counts=True)
        absent = [{"labels": {task.name: _class_name(task, int(label)) for task, label in zip(tasks, row)},
                   "images": int(count)} for row, count in zip(found, counts)]
    return {"seen_in_training": int(seen.sum()), "absent_from_training": absent,
            "without_every_label": int((~labelled).sum())}


def predicted_absent_combination(task_names: Sequence[str], labels: Sequence[np.ndarray],
                                 predicted: Sequence[np.ndarray], combinations: Combinations | None) -> dict | None:
    """The images whose predicted labels form a combination absent from training.

    Args:
        task_names: the tasks, in model order.
        labels: per task, the split's true ``(N,)`` labels (-1: missing).
        predicted: per task, the ``(N,)`` predicted classes (argmax of the logits).
        combinations: the model's record of its training data; None: unknown.

    Returns:
        None if ``combinations`` is None; else ``{"fraction": of the split's images,
        "images": n, "accuracy": {task: on those images labelled for the task, None if
        none}, "accuracy_on_the_rest": {task: on the other images, None if none}}``.
    """
    if combinations is None:
        return None
    count = len(predicted[0]) if len(predicted) else 0
    flagged = ~is_seen(np.stack(predicted, axis=1), combinations) if count else np.zeros(0, bool)

    def accuracy(mask):
        result = {}
        for task, y, p in zip(task_names, labels, predicted):
            given = mask & (np.asarray(y) != MISSING_LABEL)
            result[task] = float(np.mean(np.asarray(p)[given] == np.asarray(y)[given])) if given.any() else None
        return result

    return {"fraction": float(flagged.mean()) if count else None, "images": int(flagged.sum()),
            "accuracy": accuracy(flagged), "accuracy_on_the_rest": accuracy(~flagged)}
