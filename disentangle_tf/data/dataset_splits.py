"""A data set ready for training: its tasks and its splits (what every loader returns)."""

from __future__ import annotations

import dataclasses

from ..task_spec import TaskSpec
from .labelled_images import LabelledImages


@dataclasses.dataclass
class DatasetSplits:
    """A data set ready for training: its tasks and its splits.

    Attributes:
        tasks: the tasks, in model order, with class names.
        train: the training split.
        validation: the split watched during training (and used for model choice).
        evaluation: every split evaluated at the end, by name (validation included).
            A split may lack the labels of some task (the simulated ultrasound
            "others" split has shadow labels only); that task is not scored there.
        relevant_task: the task whose accuracy on an unseen combination matters (the
            synthetic shapes: ``shape``; the simulated ultrasound: ``plane``); empty:
            the task with the most classes
            (:func:`disentangle_tf.selection.combinations.relevant_task_of`).
    """

    tasks: list[TaskSpec]
    train: LabelledImages
    validation: LabelledImages
    evaluation: dict[str, LabelledImages]
    relevant_task: str = ""
