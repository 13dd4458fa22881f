"""A trained model's inference forward pass over a split, in batches (one traced graph per model)."""

from __future__ import annotations

import weakref

import numpy as np
import tensorflow as tf

from ..data.labelled_images import MISSING_LABEL, LabelledImages
from ..models.disentangler import Disentangler


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
            lambda images, labels: model.forward_pass(images, training=False, labels=labels), input_signature=signature,
            autograph=False,  # no Python control flow on tensors to rewrite
        )
    return _FORWARD_FUNCTIONS[model]


def split_labels(data: LabelledImages, task: str) -> np.ndarray:
    """``(N,)`` int64 labels of ``task`` in ``data``; -1 (missing) everywhere if it has none."""
    if task in data.labels:
        return np.asarray(data.labels[task]).astype(np.int64)
    return np.full(len(data), MISSING_LABEL, np.int64)
