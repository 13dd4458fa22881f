"""Accuracy of a trained model on labelled splits: per task, per class, per adversary."""

from __future__ import annotations

import weakref

import numpy as np
import tensorflow as tf

from .data.labelled_images import LabelledImages
from .models import Disentangler


def predict_outputs(model: Disentangler, data: LabelledImages, batch_size: int = 50) -> dict:
    """Logits of every classifier and adversary, and every encoder's features.

    Returns:
        ``{"logits": {task: (N, K)}, "adversary_logits": {pair: (N, K)},
        "features": {task: (N, D)}}`` as numpy arrays, in inference mode.
    """

    forward = _forward_function(model)
    parts = {"logits": [], "adversary_logits": [], "features": []}
    # Conditional adversaries read the true label where the split has it, else (-1) the prediction.
    labels = [np.asarray(data.labels[t], "int32") if t in data.labels else np.full(len(data), -1, "int32")
              for t in model.task_names]
    for start in range(0, len(data), batch_size):
        features, logits, adversary = forward(tf.constant(data.images[start:start + batch_size]),
                                              [tf.constant(y[start:start + batch_size]) for y in labels])
        parts["features"].append([f.numpy() for f in features])
        parts["logits"].append([z.numpy() for z in logits])
        parts["adversary_logits"].append([z.numpy() for z in adversary])

    def join(key, names):
        return {name: np.concatenate([batch[i] for batch in parts[key]]) for i, name in enumerate(names)}

    return {
        "logits": join("logits", model.task_names),
        "adversary_logits": join("adversary_logits", model.adversary_names),
        "features": join("features", model.task_names),
    }


_FORWARD_FUNCTIONS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _forward_function(model: Disentangler):
    """The model's inference forward pass as a tf.function traced once per model.

    Its input signature leaves the batch size open, so every split and a last partial
    batch reuse one graph.
    """
    if model not in _FORWARD_FUNCTIONS:
        signature = [tf.TensorSpec((None, *model.image_shape), tf.float32),
                     [tf.TensorSpec((None,), tf.int32) for _ in model.task_names]]
        _FORWARD_FUNCTIONS[model] = tf.function(
            lambda images, labels: model._forward(images, training=False, labels=labels), input_signature=signature,
            autograph=False,  # no Python control flow on tensors to rewrite
        )
    return _FORWARD_FUNCTIONS[model]


def _accuracy(labels, logits) -> float:
    return float(np.mean(np.argmax(logits, axis=-1) == labels)) if len(labels) else float("nan")


def evaluate_split(model: Disentangler, data: LabelledImages, batch_size: int = 50) -> dict:
    """Task, per-class and adversary accuracy on one split.

    Tasks whose labels the split lacks are left out, as are adversaries predicting
    them.

    Returns:
        ``{"images": n, "accuracy": {task: a}, "class_accuracy": {task: {class: a}},
        "adversary_accuracy": {"<features_task>-><label_task>": a}}``.
    """
    outputs = predict_outputs(model, data, batch_size)
    result = {"images": len(data), "accuracy": {}, "class_accuracy": {}, "adversary_accuracy": {}}
    for task in model.tasks:
        if task.name not in data.labels:
            continue
        labels = np.asarray(data.labels[task.name])
        logits = outputs["logits"][task.name]
        result["accuracy"][task.name] = _accuracy(labels, logits)
        names = task.class_names or tuple(str(k) for k in range(task.num_classes))
        result["class_accuracy"][task.name] = {
            name: _accuracy(labels[labels == k], logits[labels == k])
            for k, name in enumerate(names) if np.any(labels == k)
        }
    for (i, j), pair in zip(model.adversary_pairs, model.adversary_names):
        label_task = model.task_names[j]
        if label_task in data.labels:
            key = f"{model.task_names[i]}->{label_task}"
            result["adversary_accuracy"][key] = _accuracy(
                np.asarray(data.labels[label_task]), outputs["adversary_logits"][pair]
            )
    return result


def evaluate_splits(model: Disentangler, splits: dict, batch_size: int = 50) -> dict:
    """:func:`evaluate_split` for every split, keyed by split name."""
    return {name: evaluate_split(model, data, batch_size) for name, data in splits.items()}
