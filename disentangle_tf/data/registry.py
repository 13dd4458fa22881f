"""Data sets by name: what the command line's ``--dataset`` chooses from."""

from __future__ import annotations

import dataclasses

from ..task_spec import TaskSpec
from . import synthetic
from .labelled_images import LabelledImages


@dataclasses.dataclass
class DatasetSplits:
    """A data set ready for training: its tasks and its splits.

    Attributes:
        tasks: the tasks, in model order, with class names.
        train: the training split.
        validation: the split watched during training (and used for model choice).
        evaluation: every split evaluated at the end, by name (validation included).
    """

    tasks: list[TaskSpec]
    train: LabelledImages
    validation: LabelledImages
    evaluation: dict[str, LabelledImages]


def load_synthetic(image_size, seed: int) -> DatasetSplits:
    """The paper's synthetic shapes with its split (train / val / test / unseen)."""
    splits = synthetic.make_synthetic_splits(image_size=tuple(image_size), seed=seed)
    tasks = [
        TaskSpec(task, len(synthetic.CLASS_NAMES[task]), class_names=synthetic.CLASS_NAMES[task])
        for task in synthetic.TASKS
    ]
    return DatasetSplits(
        tasks=tasks,
        train=splits["train"],
        validation=splits["val"],
        evaluation={name: splits[name] for name in ("val", "test", "unseen")},
    )


LOADERS = {"synthetic": load_synthetic}


def load_dataset(name: str, image_size, seed: int = 0) -> DatasetSplits:
    """Load the data set called ``name``; ValueError naming the choices otherwise."""
    try:
        loader = LOADERS[name]
    except KeyError:
        raise ValueError(f"unknown dataset {name!r}; expected one of: {', '.join(LOADERS)}") from None
    return loader(image_size, seed)
