"""What a run achieved, in words: each kind of evaluated split and its tasks' accuracy.

An evaluated split holds combinations of labels (one class per task) that training held
(*seen*), combinations training never held (*unseen*: the synthetic shapes' circles on
black), or both (*mixed*); ``metrics.json`` says which, per split, under
``true_combinations`` (:func:`disentangle_tf.evaluation.combinations.true_combinations`).
The accuracy that matters most is the relevant task's on an unseen combination: how well
the model generalises to images unlike any in training. Pure text, no TensorFlow.
"""

from __future__ import annotations

from typing import Mapping, Sequence

#: The kinds of split, in the order the headline gives them.
KINDS = ("seen", "mixed", "unseen")


def split_kind(values: Mapping) -> str | None:
    """``"seen"``, ``"unseen"`` or ``"mixed"`` for one split's scores; None if unknown
    (a model that does not record its training combinations, or no image labelled for
    every task)."""
    found = values.get("true_combinations")
    if not found:
        return None
    seen = found["seen_in_training"]
    absent = sum(c["images"] for c in found["absent_from_training"])
    if seen and absent:
        return "mixed"
    return "seen" if seen else "unseen" if absent else None


def _combination(labels: Mapping[str, str], first: str) -> str:
    """``"shape circle with background black"``, the task ``first`` first."""
    order = sorted(labels, key=lambda task: task != first)
    return " with ".join(f"{task} {labels[task]}" for task in order)


def _tasks(accuracy: Mapping[str, float], relevant: str, mark: bool) -> str:
    order = sorted(accuracy, key=lambda task: task != relevant)
    return ", ".join(f"{task} {accuracy[task]:.3f}" + (" (headline)" if mark and task == relevant else "")
                     for task in order)


def headline(metrics: Mapping[str, Mapping], relevant_task: str = "", validation: str = "") -> list[str]:
    """One sentence per evaluated split, by kind: seen, then mixed, then unseen combinations.

    Args:
        metrics: per split, :func:`~disentangle_tf.evaluation.evaluate.evaluate_split`'s result.
        relevant_task: the task whose accuracy on an unseen combination is the headline
            (named first on every line, marked ``(headline)`` on the unseen ones);
            empty: none is named, the tasks keep their order.
        validation: the validation split's name: left out where another split is of
            its kind (the validation split took part in training's choices).

    Returns:
        Sentences (unwrapped), e.g. ``"seen combinations (test): shape 0.997, background
        1.000"`` and ``"unseen combination (unseen: shape circle with background black,
        never in training): shape 0.910 (headline), background 0.990"``; none for splits
        whose kind is unknown or that score no task.
    """
    kinds = {split: split_kind(values) for split, values in metrics.items() if values.get("accuracy")}
    lines = []
    for kind in KINDS:
        splits = [split for split, found in kinds.items() if found == kind]
        if len(splits) > 1 and validation in splits:
            splits.remove(validation)
        for split in splits:
            values = metrics[split]
            found = values["true_combinations"]
            accuracy = _tasks(values["accuracy"], relevant_task, mark=kind == "unseen" and bool(relevant_task))
            absent = found["absent_from_training"]
            if kind == "seen":
                lines.append(f"seen combinations ({split}): {accuracy}")
            elif kind == "unseen":
                named = "; ".join(_combination(c["labels"], relevant_task) for c in absent)
                plural = "s" if len(absent) > 1 else ""
                lines.append(f"unseen combination{plural} ({split}: {named}, never in training): {accuracy}")
            else:
                share = sum(c["images"] for c in absent) / (found["seen_in_training"] + sum(c["images"] for c in absent))
                lines.append(f"seen and unseen combinations ({split}, {share:.0%} of its images on combinations "
                             f"never in training): {accuracy}")
    return lines


def chance_note(metrics: Mapping[str, Mapping]) -> str:
    """What the chance level beside an adversary's accuracy is (empty without one)."""
    if not any(values.get("adversary_chance") for values in metrics.values()):
        return ""
    return ("in brackets, chance: the rate of task b's most frequent class in the split, what always guessing "
            "it scores")


def validation_name(evaluation: Mapping, validation) -> str:
    """The name under which ``evaluation`` (split name -> split) holds ``validation`` (empty if none)."""
    return next((name for name, split in evaluation.items() if split is validation), "")


def tasks_in_order(metrics: Mapping[str, Mapping]) -> Sequence[str]:
    """The tasks scored on any split, in the order of the scores."""
    return list(dict.fromkeys(task for values in metrics.values() for task in values.get("accuracy", {})))
