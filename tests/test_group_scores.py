"""Accuracy per combination of labels and the worst group, from given logits."""

from __future__ import annotations

import numpy as np
import pytest

from disentangle_tf.data.labelled_images import LabelledImages
from disentangle_tf.experiments.group_scores import group_rows
from disentangle_tf.task_spec import TaskSpec


def test_each_group_is_scored_on_its_own_images_and_the_worst_is_the_lowest():
    tasks = [TaskSpec("digit", 3, class_names=("0", "1", "2")), TaskSpec("shadow", 2, class_names=("no", "yes"))]
    digit = np.array([0, 0, 0, 1, 1, 2, 2, 2, 0])
    shadow = np.array([0, 0, 1, 0, 0, 1, 1, 1, -1])  # the last image has no shadow label: in no group
    predicted_digit = np.array([0, 1, 0, 1, 1, 2, 0, 0, 2])
    logits = {"digit": np.eye(3)[predicted_digit], "shadow": np.eye(2)[np.maximum(shadow, 0)]}
    split = LabelledImages(np.zeros((9, 2, 2, 1), np.float32), {"digit": digit, "shadow": shadow})
    rows = group_rows({"test": {"logits": logits}}, {"test": split}, tasks, "m", 3)
    values = {row["measure"]: row["value"] for row in rows}
    assert values["group_accuracy:digit|digit=0,shadow=no"] == pytest.approx(0.5)
    assert values["group_accuracy:digit|digit=0,shadow=yes"] == 1.0
    assert values["group_accuracy:digit|digit=1,shadow=no"] == 1.0
    assert values["group_accuracy:digit|digit=2,shadow=yes"] == pytest.approx(1 / 3)
    assert values["worst_group_accuracy:digit"] == pytest.approx(1 / 3)
    assert values["worst_group_accuracy:shadow"] == 1.0
    assert {row["split"] for row in rows} == {"test"} and {row["seed"] for row in rows} == {3}


def test_a_split_without_some_task_s_labels_has_no_groups_and_a_missing_task_is_not_scored():
    tasks = [TaskSpec("digit", 2), TaskSpec("shadow", 2)]
    only_shadow = LabelledImages(np.zeros((2, 2, 2, 1), np.float32), {"shadow": np.array([0, 1])})
    both = LabelledImages(np.zeros((2, 2, 2, 1), np.float32), {"digit": np.array([0, 1]), "shadow": np.array([0, 1])})
    outputs = {"a": {"logits": {"shadow": np.eye(2)}}, "b": {"logits": {"shadow": np.eye(2)}}}
    rows = group_rows(outputs, {"a": only_shadow, "b": both}, tasks, "m", 0)
    assert {row["split"] for row in rows} == {"b"}
    assert not any(row["measure"].startswith(("group_accuracy:digit", "worst_group_accuracy:digit")) for row in rows)
