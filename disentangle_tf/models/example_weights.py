"""Weights of each example's losses: sample weights, class weights and missing labels.

Functions of a model's tasks: :class:`~disentangle_tf.models.Disentangler`'s ``fit``
checks the weights once (:func:`checked_sample_weight`, :func:`checked_class_weight`);
its training and test steps multiply every loss by them (:func:`task_weights`).
"""

from __future__ import annotations

import numpy as np
from keras import ops


def same_tables(first, second) -> bool:
    """Whether two class-weight tables (per task an array, or None) are equal."""
    if first is None or second is None:
        return first is second
    return first.keys() == second.keys() and all(np.array_equal(first[k], second[k]) for k in first)


def labels_per_task(task_names, labels) -> list:
    """Labels as a list in task order.

    Args:
        task_names: the model's task names, in order.
        labels: a dict by task name, a sequence in task order, or (one task) the labels
            themselves.

    Raises:
        ValueError: for a dict missing a task.
    """
    if isinstance(labels, dict):
        missing = [t for t in task_names if t not in labels]
        if missing:
            raise ValueError(f"labels: missing task(s) {missing}; expected keys {list(task_names)}")
        return [labels[t] for t in task_names]
    if len(task_names) == 1 and not isinstance(labels, (list, tuple)):
        return [labels]
    return list(labels)


def task_weights(task_names, labels, sample_weight=None, class_weights=None) -> list:
    """Per task, the ``(N,)`` float32 weight of each example's losses.

    ``labels`` are per task in the order of ``task_names``; ``sample_weight`` and
    ``class_weights`` (per task name a float32 table, or None) as checked below. The product of the sample weight (one array for every task, or a dict per
    task), the class weight of the example's label, and 0 where the task's label
    is missing (a negative label, :data:`MISSING_LABEL`): a missing label moves
    nothing through that task's loss or the adversaries that predict it.
    """
    weights = []
    for name, y in zip(task_names, labels):
        y = ops.reshape(ops.cast(y, "int32"), (-1,))
        weight = ops.cast(y >= 0, "float32")
        if sample_weight is not None:
            given = sample_weight[name] if isinstance(sample_weight, dict) else sample_weight
            weight = weight * ops.reshape(ops.cast(given, "float32"), (-1,))
        table = (class_weights or {}).get(name)
        if table is not None:
            weight = weight * ops.take(ops.convert_to_tensor(table, "float32"), ops.maximum(y, 0))
        weights.append(weight)
    return weights

def checked_sample_weight(task_names, sample_weight, count: int):
    """``sample_weight`` as float32 ``(count,)`` (or a dict of them per task name of ``task_names``).

    Raises:
        ValueError: one line, for an unknown task, a wrong shape, or a weight not finite or < 0.
    """
    if sample_weight is None:
        return None
    items = sample_weight.items() if isinstance(sample_weight, dict) else [(None, sample_weight)]
    checked = {}
    for task, values in items:
        where = "sample_weight" if task is None else f"sample_weight[{task!r}]"
        if task is not None and task not in task_names:
            raise ValueError(f"{where}: not a task of this model; expected keys {list(task_names)}")
        values = np.asarray(values, dtype=np.float32).reshape(-1) if np.ndim(values) <= 2 else None
        if values is None or values.shape != (count,):
            raise ValueError(f"{where}: expected shape ({count},), one weight per image")
        if not np.all(np.isfinite(values)) or values.min(initial=0.0) < 0:
            raise ValueError(f"{where}: weights must be finite and >= 0")
        checked[task] = values
    return checked[None] if None in checked else checked

def checked_class_weight(tasks, class_weight):
    """Per task name, a float32 ``(num_classes,)`` table of class weights (1 for classes not named), or None.

    Args:
        tasks: the model's :class:`~disentangle_tf.task_spec.TaskSpec` list.
        class_weight: per task name a dict ``{class index: weight}`` (for one task, the
            inner dict alone), or None / empty.

    Raises:
        ValueError: one line, for an unknown task, a class out of range or a weight not finite or < 0.
    """
    task_names = [task.name for task in tasks]
    if not class_weight:
        return None
    if not all(isinstance(key, str) for key in class_weight):
        if len(tasks) != 1:
            raise ValueError(
                "class_weight: this model has several tasks; give a dict per task, e.g. "
                f"{{{task_names[0]!r}: {{0: 1.0, 1: 5.0}}}}")
        class_weight = {task_names[0]: class_weight}
    tables = {}
    for task_name, weights in class_weight.items():
        if task_name not in task_names:
            raise ValueError(f"class_weight: {task_name!r} is not a task of this model; "
                             f"expected keys {list(task_names)}")
        task = tasks[task_names.index(task_name)]
        table = np.ones(task.num_classes, np.float32)
        for index, weight in dict(weights).items():
            if isinstance(index, bool) or not isinstance(index, (int, np.integer)) \
                    or not 0 <= index < task.num_classes:
                raise ValueError(f"class_weight[{task_name!r}]: class {index!r} is not in "
                                 f"[0, {task.num_classes})")
            if not np.isfinite(weight) or weight < 0:
                raise ValueError(f"class_weight[{task_name!r}][{index}]: expected a finite weight >= 0; "
                                 f"got {weight!r}")
            table[index] = weight
        tables[task_name] = table
    return tables
