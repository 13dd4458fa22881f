"""Counting the combinations of labels of a split (one class per task), without TensorFlow."""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from .labelled_images import MISSING_LABEL

#: A record of combinations: per combination, its class index per task and its images.
Combinations = tuple[tuple[tuple[int, ...], int], ...]


def count_combinations(labels: Mapping[str, np.ndarray], task_names: Sequence[str]) -> Combinations:
    """The combinations of ``labels`` with their counts, in label order.

    Args:
        labels: per task name, ``(N,)`` integer class indices; -1 (missing) where an
            image has no label for the task.
        task_names: the tasks, in model order; every one must be in ``labels``.

    Returns:
        ``((labels, images), ...)``: each combination's class index per task (ints, in
        ``task_names`` order) and how many images have it. An image missing a label
        for some task belongs to no combination and is not counted.

    Raises:
        KeyError: if a task has no labels.
    """
    if not task_names:
        return ()
    columns = np.stack([np.asarray(labels[task]).astype(np.int64) for task in task_names], axis=1)
    columns = columns[(columns != MISSING_LABEL).all(axis=1)]
    if not len(columns):
        return ()
    found, counts = np.unique(columns, axis=0, return_counts=True)
    return tuple((tuple(int(v) for v in row), int(count)) for row, count in zip(found, counts))
