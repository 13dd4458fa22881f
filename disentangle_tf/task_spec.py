"""Description of one classification task of a multi-task model."""

from __future__ import annotations

import dataclasses
import re
from typing import Sequence

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


@dataclasses.dataclass(frozen=True)
class TaskSpec:
    """One task: its name, its number of classes and the hidden units of its head.

    The task's classifier, and every adversary that predicts this task's label from
    another task's features, use ``head_units`` (paper, Sect. 2: an adversary has the
    architecture of the classifier it mirrors).

    Args:
        name: identifier used in layer, metric and output names (letters, digits,
            underscores; starts with a letter).
        num_classes: number of classes, at least 2.
        head_units: hidden units of the dense layers before the logits; ``None``
            takes the model's default.
        class_names: optional names of the classes, index ``k`` naming label ``k``.

    Example:

    >>> TaskSpec("shape", 2, head_units=(256,))
    TaskSpec(name='shape', num_classes=2, head_units=(256,), class_names=None)
    """

    name: str
    num_classes: int
    head_units: tuple[int, ...] | None = None
    class_names: tuple[str, ...] | None = None

    def __post_init__(self):
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise ValueError(
                f"task name {self.name!r}: expected letters, digits and underscores, "
                "starting with a letter"
            )
        if not isinstance(self.num_classes, int) or self.num_classes < 2:
            raise ValueError(f"task {self.name!r}: num_classes must be an integer >= 2")
        if self.head_units is not None:
            object.__setattr__(self, "head_units", tuple(int(u) for u in self.head_units))
        if self.class_names is not None:
            names = tuple(str(n) for n in self.class_names)
            if len(names) != self.num_classes:
                raise ValueError(
                    f"task {self.name!r}: {len(names)} class names for {self.num_classes} classes"
                )
            object.__setattr__(self, "class_names", names)

    @property
    def class_labels(self) -> tuple[str, ...]:
        """The names of the classes: :attr:`class_names`, or the class indices ``"0"``,
        ``"1"``, ... where the task has none."""
        return self.class_names or tuple(str(k) for k in range(self.num_classes))

    def get_config(self) -> dict:
        """A JSON-serialisable description (inverse of ``TaskSpec(**config)``)."""
        config = dataclasses.asdict(self)
        for key in ("head_units", "class_names"):
            if config[key] is not None:
                config[key] = list(config[key])
        return config

    @classmethod
    def from_config(cls, config: dict) -> "TaskSpec":
        return cls(**config)


def relevant_task_of(tasks: Sequence["TaskSpec"], name: str = "") -> str:
    """The task whose accuracy on an unseen combination matters: ``name`` if given, else the
    task with the most classes (the first of those tied).

    Raises:
        ValueError: if ``name`` is not one of the tasks.
    """
    names = [task.name for task in tasks]
    if name:
        if name not in names:
            raise ValueError(f"relevant task {name!r} is not a task; expected one of: {', '.join(names)}")
        return name
    return max(tasks, key=lambda task: (task.num_classes, -names.index(task.name))).name
