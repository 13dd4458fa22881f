"""Accuracy per group (combination of labels) and the worst seen group, from a model's outputs.

A *group* is one combination of the tasks' labels (digit 3, shadow with). For every split
and task, each group present in the split gets the task's accuracy on its images, and the
split gets the lowest of them over the groups (the *worst-group accuracy*, Sagawa et al.,
ICLR 2020: the measure Group DRO optimises). Images without a label for some task belong
to no group.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from ..data.labelled_images import MISSING_LABEL


def _class_name(task, label: int) -> str:
    names = task.class_names
    return str(names[label]) if names and 0 <= label < len(names) else str(label)


def group_rows(outputs: Mapping[str, dict], splits: Mapping, tasks, method: str, seed: int) -> list[dict]:
    """Rows ``group_accuracy:<task>|<group>`` and ``worst_group_accuracy:<task>`` per split.

    Args:
        outputs: ``{split: predict_outputs(model, split)}`` (its ``"logits"`` per task).
        splits: ``{split: LabelledImages}``.
        tasks: the data set's tasks (:class:`~disentangle_tf.task_spec.TaskSpec`), in order:
            they define the groups; each task the outputs hold a logit of is scored.
        method, seed: copied into every row.

    Returns:
        Tidy rows ``{"method", "seed", "split", "measure", "value"}``; a group is named
        ``task=class`` for every task, joined by ``,``.
    """
    rows = []
    for name, split in splits.items():
        if any(task.name not in split.labels for task in tasks):
            continue
        labels = np.stack([np.asarray(split.labels[task.name]) for task in tasks], axis=1)
        labelled = (labels != MISSING_LABEL).all(axis=1)
        groups = np.unique(labels[labelled], axis=0)
        for t, task in enumerate(tasks):
            if task.name not in outputs[name]["logits"]:
                continue
            predicted = np.argmax(outputs[name]["logits"][task.name], axis=-1)
            accuracies = []
            for group in groups:
                members = labelled & (labels == group).all(axis=1)
                accuracy = float(np.mean(predicted[members] == labels[members, t]))
                accuracies.append(accuracy)
                described = ",".join(f"{s.name}={_class_name(s, int(g))}" for s, g in zip(tasks, group))
                rows.append({"method": method, "seed": seed, "split": name,
                             "measure": f"group_accuracy:{task.name}|{described}", "value": accuracy})
            if accuracies:
                rows.append({"method": method, "seed": seed, "split": name,
                             "measure": f"worst_group_accuracy:{task.name}", "value": min(accuracies)})
    return rows
