"""A run's final results as markdown, for TensorBoard's Text dashboard. Pure text.

The Text dashboard renders a text summary as markdown, tables included: one table of
every evaluated split reads at a glance where a chart per number would not.
"""

from __future__ import annotations

from typing import Mapping, Sequence

from .headline import chance_note, tasks_in_order


def _number(value) -> str:
    return "-" if value is None else f"{float(value):.3f}"


def _cell(text) -> str:
    return str(text).replace("|", "\\|")


def results_markdown(metrics: Mapping[str, Mapping], headline: Sequence[str] = ()) -> str:
    """The ``headline`` sentences as a list, then a table with a row per evaluated split.

    Args:
        metrics: per split, :func:`~disentangle_tf.evaluation.evaluate.evaluate_split`'s result.
        headline: what the run achieved (:func:`~disentangle_tf.run.headline.headline`).

    Returns:
        Markdown: columns ``split``, ``images``, each task's accuracy, each adversary's
        accuracy with its chance level in brackets (``a->b``: the adversary reading task
        a's features to predict task b), and the share of the split's images whose
        predicted labels form a combination absent from training (the SavedModel's
        ``combination_seen_in_training`` false); ``-`` where a split has no value.

    Example:

    >>> print(results_markdown({"test": {"images": 3, "accuracy": {"shape": 1.0}}}))
    | split | images | shape |
    |:--|--:|--:|
    | test | 3 | 1.000 |
    """
    tasks = tasks_in_order(metrics)
    pairs = list(dict.fromkeys(p for values in metrics.values() for p in values.get("adversary_accuracy", {})))
    flagged = any(values.get("predicted_absent_combination") for values in metrics.values())
    header = ["split", "images", *tasks, *pairs]
    header += ["absent combination predicted"] if flagged else []
    rows = []
    for split, values in metrics.items():
        row = [split, values.get("images", "-"), *(_number(values.get("accuracy", {}).get(t)) for t in tasks)]
        for pair in pairs:
            accuracy = values.get("adversary_accuracy", {}).get(pair)
            chance = values.get("adversary_chance", {}).get(pair)
            row.append(_number(accuracy) + ("" if accuracy is None or chance is None else f" ({chance:.3f})"))
        if flagged:
            absent = values.get("predicted_absent_combination") or {}
            fraction = absent.get("fraction")
            row.append("-" if fraction is None else f"{fraction:.1%} ({absent['images']} image{'' if absent['images'] == 1 else 's'})")
        rows.append(row)
    lines = [f"- {sentence}" for sentence in headline] + ([""] if headline else [])
    lines.append("| " + " | ".join(map(_cell, header)) + " |")
    lines.append("|:--|" + "--:|" * (len(header) - 1))
    lines += ["| " + " | ".join(map(_cell, row)) + " |" for row in rows]
    notes = []
    if pairs:
        notes.append("a->b: the accuracy of the adversary that predicts task b from the features of task a; "
                     + (chance_note(metrics) or "no chance level recorded"))
    if flagged:
        notes.append("absent combination predicted: the images whose predicted labels form a combination of "
                     "classes never seen together in training (the SavedModel's combination_seen_in_training "
                     "is false)")
    return "\n".join(lines + [part for note in notes for part in ("", f"*{note}*")])
