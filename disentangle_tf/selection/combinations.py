"""Combinations of labels in a training split, and which of them can stand in for a missing one.

A *combination* is one label per task (in the paper's layout: plane LVOT, shadow with).
The combination a model will meet unseen is *absent* from the training split; the user
has no images of it. Held-out-combination validation takes a combination that *is* in
the training split, trains without its images and scores the relevant task on them: an
estimate of the accuracy on a combination never seen in training, from the training
data alone.

A training combination ``c`` is *eligible* when

1. its relevant class also occurs in training with other labels of the other tasks (so
   the class is still learnt without ``c``);
2. removing ``c`` leaves every task with every class it has in training;
3. without ``c``, the other tasks' labels still do not determine the relevant label
   (some labelling of the other tasks occurs with two relevant classes or more): else
   the relevant task could be read from the nuisance alone, which is not the problem
   the user has (the 2 x 2 synthetic shapes);
4. where the training split lacks combinations, ``c`` shares its other tasks' labels
   with one that is absent: it mirrors the missing combination, a class never seen
   with a nuisance value that other classes have (in the paper's layout: 3VV with
   shadow and Abd with shadow stand in for LVOT with shadow, while 3VV without shadow
   does not);
5. it has at least ``min_images`` training images.

Images without a label for some task (:data:`~disentangle_tf.data.labelled_images.MISSING_LABEL`)
belong to no combination and always stay in training.
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Mapping, Sequence

import numpy as np

from ..data.combinations import count_combinations
from ..data.dataset_splits import DatasetSplits
from ..data.labelled_images import LabelledImages
from ..task_spec import TaskSpec, relevant_task_of  # noqa: F401  (part of this module's interface)

#: Fewest training images an eligible combination needs (rule 5).
MIN_IMAGES = 10


@dataclasses.dataclass(frozen=True)
class Combination:
    """One label per task.

    Attributes:
        tasks: the task names, in model order.
        labels: the class index of each task (int, >= 0), in the same order.
        names: the class name of each label (the index as text where a task has no names).
        count: images of the combination in the training split.
    """

    tasks: tuple[str, ...]
    labels: tuple[int, ...]
    names: tuple[str, ...]
    count: int = 0

    def describe(self) -> str:
        """``"digit 0, shadow with"``: each task and its class name."""
        return ", ".join(f"{task} {name}" for task, name in zip(self.tasks, self.names))

    def mask(self, labels: Mapping[str, np.ndarray]) -> np.ndarray:
        """Boolean ``(N,)`` mask of the images of this combination among ``labels`` (task -> ``(N,)`` ints)."""
        masks = [np.asarray(labels[task]) == label for task, label in zip(self.tasks, self.labels)]
        return np.logical_and.reduce(masks)

    def as_dict(self) -> dict:
        """A JSON-ready description: ``{"labels": {task: class name}, "images": count}``."""
        return {"labels": dict(zip(self.tasks, self.names)), "images": self.count}


def _name(task: TaskSpec, label: int) -> str:
    names = task.class_names
    return str(names[label]) if names and 0 <= label < len(names) else str(label)


def training_combinations(split: LabelledImages, tasks: Sequence[TaskSpec]) -> dict[tuple[int, ...], int]:
    """``{labels: images}`` of every combination in ``split`` (images labelled for every task)."""
    return dict(count_combinations(split.labels, [task.name for task in tasks]))


def absent_combinations(split: LabelledImages, tasks: Sequence[TaskSpec]) -> list[Combination]:
    """The combinations of the classes present in ``split`` that have no image there."""
    present = training_combinations(split, tasks)
    classes = [sorted({labels[i] for labels in present}) for i in range(len(tasks))]
    return [_combination(tasks, labels, 0) for labels in itertools.product(*classes) if labels not in present]


def _combination(tasks: Sequence[TaskSpec], labels: tuple[int, ...], count: int) -> Combination:
    return Combination(tuple(t.name for t in tasks), tuple(labels),
                       tuple(_name(t, label) for t, label in zip(tasks, labels)), count)


def eligible_combinations(split: LabelledImages, tasks: Sequence[TaskSpec], relevant: str,
                          min_images: int = MIN_IMAGES) -> list[Combination]:
    """The training combinations that can stand in for a missing one (the rules of the module).

    Args:
        split: the training split.
        tasks: the tasks, in model order (two or more).
        relevant: the name of the relevant task.
        min_images: fewest images a combination needs.

    Returns:
        The eligible combinations in label order (empty if none, or with fewer than two tasks).
    """
    if len(tasks) < 2:
        return []
    present = training_combinations(split, tasks)
    r = [task.name for task in tasks].index(relevant)

    def rest(labels):
        return labels[:r] + labels[r + 1:]

    classes = [{labels[i] for labels in present} for i in range(len(tasks))]
    mirrored = {rest(c.labels) for c in absent_combinations(split, tasks)}
    eligible = []
    for cell, count in present.items():
        others = [labels for labels in present if labels != cell]
        by_rest: dict[tuple, set] = {}
        for labels in others:
            by_rest.setdefault(rest(labels), set()).add(labels[r])
        if (count >= min_images
                and any(labels[r] == cell[r] for labels in others)
                and all({labels[i] for labels in others} == classes[i] for i in range(len(tasks)))
                and any(len(found) > 1 for found in by_rest.values())
                and (not mirrored or rest(cell) in mirrored)):
            eligible.append(_combination(tasks, cell, count))
    return eligible


def _join(first: LabelledImages, second: LabelledImages) -> LabelledImages:
    """Two in-memory splits as one (``first``'s class names)."""
    groups = None
    if first.groups is not None and second.groups is not None:
        groups = np.concatenate([first.groups, second.groups])
    return LabelledImages(
        images=np.concatenate([np.asarray(first.images), np.asarray(second.images)]),
        labels={task: np.concatenate([values, np.asarray(second.labels[task])]) for task, values in first.labels.items()},
        class_names=first.class_names, groups=groups)


def without_combination(data: DatasetSplits, combination: Combination) -> tuple[DatasetSplits, LabelledImages]:
    """``data`` without the images of ``combination``, and those images.

    The training and validation splits lose the combination's images; the evaluation
    splits become the reduced validation split alone (``"val"``). The held-out images
    are the combination's training images and, when both splits are held in memory, its
    validation images too.

    Returns:
        ``(reduced, held_out)``.
    """
    in_train = combination.mask(data.train.labels)
    in_val = combination.mask(data.validation.labels)
    held_out = data.train.subset(in_train)
    if in_val.any() and isinstance(data.train.images, np.ndarray) and isinstance(data.validation.images, np.ndarray):
        held_out = _join(held_out, data.validation.subset(in_val))
    validation = data.validation.subset(~in_val)
    reduced = DatasetSplits(tasks=data.tasks, train=data.train.subset(~in_train), validation=validation,
                            evaluation={"val": validation}, relevant_task=data.relevant_task)
    return reduced, held_out
