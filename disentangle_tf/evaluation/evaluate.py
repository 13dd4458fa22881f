"""Scores of a trained model on labelled splits: per task, per class, per adversary.

Every task is scored on every split, on the images that have its label (a label of
:data:`~disentangle_tf.data.labelled_images.MISSING_LABEL`, -1, or a split without the
task's labels, leaves images out) by :func:`disentangle_tf.evaluation.scores.classification_scores`;
so are the split's combinations of labels against those of training
(:mod:`disentangle_tf.evaluation.combinations`). :func:`write_evaluation` draws the
confusion matrices and reliability diagrams.
"""

from __future__ import annotations

import pathlib
import re

import numpy as np

from ..data.labelled_images import MISSING_LABEL, LabelledImages
from .combinations import majority_rate, predicted_absent_combination, true_combinations
from .forward import predict_outputs, split_labels
from ..models.disentangler import Disentangler
from .plots import plot_confusion_matrix, plot_reliability
from .scores import classification_scores


def _probabilities(logits) -> np.ndarray:
    from scipy.special import softmax

    return softmax(np.asarray(logits, dtype=np.float64), axis=-1)


def evaluate_split(model: Disentangler, data: LabelledImages, batch_size: int = 50,
                   outputs: dict | None = None) -> dict:
    """Every task's scores and every adversary's accuracy on one split.

    A task is scored on the images that have its label; a task with no labelled image
    in the split (the split lacks its labels, or every one is -1) is absent from
    ``accuracy`` and ``class_accuracy``, and its ``scores`` are ``None``. An adversary
    is scored on the images labelled for the task it predicts.

    Args:
        model: a trained :class:`~disentangle_tf.models.Disentangler`.
        data: the split.
        batch_size: images per forward pass.
        outputs: ``predict_outputs(model, data)`` if already computed.

    Returns:
        ``{"images": n, "labelled": {task: images with its label},
        "accuracy": {task: a}, "class_accuracy": {task: {class: recall}}`` (classes
        present only) ``, "scores": {task: classification_scores(...) or None},
        "adversary_accuracy": {"<features_task>-><label_task>": a},
        "adversary_class_accuracy": {"<features_task>-><label_task>": {class: a}}`` (classes
        present only)``, "adversary_chance": {"<features_task>-><label_task>": the rate
        of the label task's most frequent class among the images scored}, "true_combinations":
        ..., "predicted_absent_combination": ...}``, plain JSON values
        (:func:`disentangle_tf.evaluation.scores.classification_scores` describes
        ``scores``; :func:`~disentangle_tf.evaluation.combinations.true_combinations` and
        :func:`~disentangle_tf.evaluation.combinations.predicted_absent_combination` the
        last two, None for a model that does not record its training combinations).
    """
    outputs = outputs or predict_outputs(model, data, batch_size)
    result = {"images": len(data), "labelled": {}, "accuracy": {}, "class_accuracy": {}, "scores": {},
              "adversary_accuracy": {}, "adversary_class_accuracy": {}, "adversary_chance": {}}
    for task in model.tasks:
        names = task.class_labels
        scores = classification_scores(split_labels(data, task.name),
                                       _probabilities(outputs["logits"][task.name]), names)
        result["scores"][task.name] = scores
        result["labelled"][task.name] = 0 if scores is None else scores["images"]
        if scores is None:
            continue
        result["accuracy"][task.name] = scores["accuracy"]
        result["class_accuracy"][task.name] = {
            name: value for name, value in scores["class_accuracy"].items() if value is not None
        }
    for (i, j), pair in zip(model.adversary_pairs, model.adversary_names):
        label_task = model.task_names[j]
        labels = split_labels(data, label_task)
        given = labels != MISSING_LABEL
        if given.any():
            key = f"{model.task_names[i]}->{label_task}"
            predictions = np.argmax(outputs["adversary_logits"][pair][given], axis=-1)
            result["adversary_accuracy"][key] = float(np.mean(predictions == labels[given]))
            result["adversary_class_accuracy"][key] = {
                name: float(np.mean(predictions[labels[given] == k] == k))
                for k, name in enumerate(model.tasks[j].class_labels) if np.any(labels[given] == k)
            }
            result["adversary_chance"][key] = majority_rate(labels)
    combinations = getattr(model, "training_combinations", None)
    labels = [split_labels(data, task) for task in model.task_names]
    predicted = [np.argmax(outputs["logits"][task], axis=-1) for task in model.task_names]
    result["true_combinations"] = true_combinations(model.tasks, labels, combinations)
    result["predicted_absent_combination"] = predicted_absent_combination(model.task_names, labels, predicted,
                                                                          combinations)
    return result


def evaluate_splits(model: Disentangler, splits: dict, batch_size: int = 50, on_split=None) -> dict:
    """:func:`evaluate_split` for every split, keyed by split name; ``on_split``, if given, is
    called with the number of splits done after each (to show progress)."""
    metrics = {}
    for name, data in splits.items():
        metrics[name] = evaluate_split(model, data, batch_size)
        if on_split is not None:
            on_split(len(metrics))
    return metrics


def _file_name(text: str) -> str:
    """``text`` with every run of characters other than letters, digits, ``._-`` as ``_``."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(text)).strip("_") or "_"


def final_tag(split: str, task: str, measure: str) -> str:
    """``final/<split>/<task>_<measure>``, each part kept to ``[A-Za-z0-9._-]`` (and ``/``)."""
    return f"final/{_file_name(split)}/{_file_name(task)}_{'/'.join(map(_file_name, measure.split('/')))}"


def write_evaluation(metrics: dict, output_dir) -> list[pathlib.Path]:
    """Figures of every scored task on every split.

    For each split and task with scores: ``figures/confusion_<split>_<task>.png`` (the
    confusion matrix) and ``figures/reliability_<split>_<task>.png`` (the reliability
    diagram) in ``output_dir`` (:mod:`disentangle_tf.evaluation.plots`). Characters
    other than letters, digits and ``._-`` in a name become ``_``.

    Args:
        metrics: :func:`evaluate_splits`'s result (or a ``metrics.json`` read back).
        output_dir: the run's directory (``figures`` is made if missing).

    Returns:
        The figure files written, in split and task order.
    """
    output_dir = pathlib.Path(output_dir)
    figures = output_dir / "figures"
    figures.mkdir(parents=True, exist_ok=True)
    written = []
    for split, values in metrics.items():
        for task, scores in values.get("scores", {}).items():
            if scores is None:
                continue
            stem = f"{_file_name(split)}_{_file_name(task)}"
            title = f"{task} on {split} ({scores['images']} image{'' if scores['images'] == 1 else 's'})"
            written.append(plot_confusion_matrix(scores, figures / f"confusion_{stem}.png", title))
            written.append(plot_reliability(scores, figures / f"reliability_{stem}.png", title))
    return written
