"""What TensorBoard shows of a run, read back from its event files: the tasks' curves in the
first group, the final results as one markdown table, and each task's accuracy per split
as the HParams plugin's only metrics."""

from __future__ import annotations

import functools
import json
import re

import pytest
import tensorflow as tf

from test_training_combinations import finished_run  # noqa: F401  (a tiny run with its logs)


def tensorboard_order(first: str, second: str) -> int:
    """TensorBoard's comparison of tag names (its ``compareTagNames``): digits and ``/``
    before any other character, a run of digits compared as a number, the rest by code."""
    i = j = 0
    while True:
        if i == len(first):
            return 0 if j == len(second) else -1
        if j == len(second):
            return 1
        if first[i].isdigit() and second[j].isdigit():
            a, b = re.match(r"\d+", first[i:]).group(), re.match(r"\d+", second[j:]).group()
            if int(a) != int(b):
                return -1 if int(a) < int(b) else 1
            i, j = i + len(a), j + len(b)
            continue
        special = [c == "/" or c.isdigit() for c in (first[i], second[j])]
        if special[0] != special[1]:
            return -1 if special[0] else 1
        if first[i] != second[j]:
            return -1 if first[i] < second[j] else 1
        i, j = i + 1, j + 1


def groups_in_order(tags) -> list[str]:
    """The groups of the Time Series dashboard (a tag's part before its first ``/``), in its order."""
    ordered = sorted(tags, key=functools.cmp_to_key(tensorboard_order))
    return list(dict.fromkeys(tag.split("/", 1)[0] for tag in ordered))


def test_the_order_is_tensorboards():
    assert groups_in_order(["adversary/x", "task/y", "loss/z"]) == ["adversary", "loss", "task"]  # the old order
    assert groups_in_order(["b/x", "10_a/x", "9_z/x", "2_b/x"]) == ["2_b", "9_z", "10_a", "b"]


def _accumulator(directory):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(directory), size_guidance={"tensors": 0})
    accumulator.Reload()
    return accumulator


def test_the_tasks_curves_come_first_and_the_losses_second(finished_run):  # noqa: F811
    out, data, _ = finished_run
    train, validation = _accumulator(out / "logs" / "train"), _accumulator(out / "logs" / "validation")
    root = _accumulator(out / "logs")
    tags = set(train.Tags()["tensors"]) | set(validation.Tags()["tensors"]) | set(root.Tags()["tensors"])
    assert {"1_task/a_accuracy", "1_task/b_loss", "2_loss/tasks", "4_adversary/a_to_b_accuracy",
            "5_optimizer/learning_rate", "7_data/training_images"} <= tags, sorted(tags)
    groups = groups_in_order(tags)
    assert groups[:2] == ["1_task", "2_loss"], groups  # the two groups TensorBoard opens
    assert groups.index("4_adversary") > groups.index("3_penalty")
    assert not any(tag.startswith(("task/", "adversary/", "loss/")) for tag in tags)


def test_the_final_results_are_one_markdown_table(finished_run):  # noqa: F811
    out, data, result = finished_run
    root = _accumulator(out / "logs")
    events = root.Tensors("final_results")
    assert len(events) == 1 and root.SummaryMetadata("final_results").plugin_data.plugin_name == "text"
    text = tf.make_ndarray(events[0].tensor_proto).item().decode()
    metrics = json.loads((out / "metrics.json").read_text())
    table = [line for line in text.splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in table[0].strip("|").split("|")]
    assert header[:4] == ["split", "images", "a", "b"]
    assert header[4:6] == ["a->b", "b->a"]
    assert "in brackets, chance: the rate of task b's most frequent class in the split" in text
    assert header[6] == "absent combination predicted"
    rows = {cells[0]: cells for cells in ([c.strip() for c in line.strip("|").split("|")] for line in table[2:])}
    assert set(rows) == {"val", "unseen"}
    for split, values in metrics.items():
        assert rows[split][1] == str(values["images"])
        assert rows[split][2:4] == [f"{values['accuracy'][task]:.3f}" for task in ("a", "b")]
        accuracy, chance = values["adversary_accuracy"]["a->b"], values["adversary_chance"]["a->b"]
        assert rows[split][4] == f"{accuracy:.3f} ({chance:.3f})"
        absent = values["predicted_absent_combination"]
        count = absent["images"]
        assert rows[split][6] == f"{absent['fraction']:.1%} ({count} image{'' if count == 1 else 's'})"
    assert f"- {result.headline[-1]}" in text.splitlines()
    assert "unseen combination (unseen: b q with a y, never in training)" in text


def test_hparams_lists_only_each_tasks_accuracy_per_split(finished_run):  # noqa: F811
    from tensorboard.plugins.hparams import metadata

    out, _, _ = finished_run
    root = _accumulator(out / "logs")
    experiment = metadata.parse_experiment_plugin_data(root.SummaryMetadata(metadata.EXPERIMENT_TAG).plugin_data.content)
    metric_tags = sorted(info.name.tag for info in experiment.metric_infos)
    assert metric_tags == sorted(f"final/{split}/{task}_accuracy" for split in ("val", "unseen") for task in "ab")
    scalars = sorted(tag for tag in root.Tags()["tensors"] if tag.startswith("final/"))
    assert scalars == metric_tags  # no other one-point chart: the rest is in the table


@pytest.mark.parametrize("name, tag", [
    ("plane_accuracy", ("train", "1_task/plane_accuracy")),
    ("val_shadow_loss", ("validation", "1_task/shadow_loss")),
    ("adversary_plane_to_shadow_loss", ("train", "4_adversary/plane_to_shadow_loss")),
    ("val_adversary_loss", ("validation", "2_loss/adversary")),
    ("effective_adversarial_weight", ("train", "3_penalty/lambda")),
    ("something_new", ("train", "8_other/something_new")),
])
def test_every_value_of_the_epoch_logs_has_its_group(name, tag):
    from disentangle_tf.run.summaries import tag_of

    assert tag_of(name, ["plane", "shadow"]) == tag
