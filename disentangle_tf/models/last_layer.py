"""Last-layer retraining: every classifier's final dense layer refitted on frozen features.

After training, the encoders' features may separate a task's classes along directions
that also carry a nuisance (the other task's label); the classifier trained with them
then leans on those directions and fails on a combination absent from training. Refitting
only the last layer, as a class-balanced, L2-regularised logistic regression on the
standardised inputs of that layer (the encoders and the earlier head layers frozen, in
inference mode), spreads its weight over every direction that separates the classes and
restores the class balance the sampling may have shifted.

Reference: Kirichenko, Izmailov & Wilson, "Last Layer Re-Training is Sufficient for
Robustness to Spurious Correlations", ICLR 2023 (deep feature reweighting, DFR; here
refitted on the training split, their ``DFR_Tr^Tr`` variant, with class-then-group
balanced example weights).
"""

from __future__ import annotations

import keras
import numpy as np

from ..data.labelled_images import MISSING_LABEL
from ..data.pipeline import label_groups

#: Inverse L2 strength ``C`` of the logistic regression on standardised features
#: (scikit-learn's convention: the penalty is ``||W||^2 / (2 C)`` against the summed,
#: weighted log-loss). Chosen by oracle selection (``docs/reproduction.rst``).
LAST_LAYER_C = 100.0

#: How the examples of a task are weighted: ``"class_group"`` (every class equally,
#: then every combination of labels of the other tasks equally within a class),
#: ``"class"`` (every class equally) or ``"none"``.
LAST_LAYER_BALANCE = ("class_group", "class", "none")


def balanced_weights(labels: dict, task: str, balance: str = "class_group") -> np.ndarray:
    """Per-example weights of ``task``'s refit; they sum to the number of labelled examples.

    Args:
        labels: per task, ``(N,)`` integer labels (-1: missing).
        task: the task whose classes are balanced.
        balance: one of :data:`LAST_LAYER_BALANCE`.

    Returns:
        ``(N,)`` float64 weights, 0 where ``task``'s label is missing.

    Raises:
        ValueError: for an unknown ``balance`` or a task without labelled examples.
    """
    if balance not in LAST_LAYER_BALANCE:
        raise ValueError(f"balance must be one of {', '.join(LAST_LAYER_BALANCE)}; got {balance!r}")
    y = np.asarray(labels[task]).astype("int64")
    known = _known(y)
    if not known.any():
        raise ValueError(f"task {task!r}: no labelled example to refit its last layer on")
    weights = known.astype("float64")
    if balance != "none":
        groups = label_groups(labels) if balance == "class_group" else np.zeros(len(y), "int64")
        classes = np.unique(y[known])
        for c in classes:
            in_class = known & (y == c)
            class_groups = np.unique(groups[in_class])
            for g in class_groups:
                members = in_class & (groups == g)
                weights[members] = 1.0 / (len(classes) * len(class_groups) * members.sum())
    return weights * known.sum() / weights.sum()


def last_dense_inputs(classifier) -> keras.Model:
    """A model from the classifier's input to the input of its last layer (a Dense).

    Raises:
        ValueError: if the classifier is not a functional model ending in a
            ``keras.layers.Dense``.
    """
    last = classifier.layers[-1] if getattr(classifier, "layers", None) else None
    if not isinstance(last, keras.layers.Dense) or not hasattr(classifier, "inputs"):
        raise ValueError(f"{classifier.name}: last-layer retraining needs a functional classifier whose last "
                         "layer is a keras.layers.Dense")
    return keras.Model(classifier.inputs, last.input)


def retrain_last_layer(model, images, labels: dict, batch_size: int = 50, c: float = LAST_LAYER_C,
                       balance: str = "class_group") -> dict:
    """Refit every classifier's last dense layer on the frozen network's features.

    For each task: the inputs ``h`` (``(N, D)``) of the classifier's final
    ``keras.layers.Dense`` are computed in inference mode on ``images``; a multinomial
    logistic regression is fitted on ``(h - mean) / std`` with the weights of
    :func:`balanced_weights` and inverse L2 strength ``c``; the standardisation is folded
    into the layer's new kernel ``W / std`` and bias ``b - (mean / std) @ W``. Nothing
    else changes; a task with fewer than two classes labelled (one class, or no label
    at all) keeps its layer, and its features are not computed.

    Args:
        model: a trained :class:`~disentangle_tf.models.Disentangler`.
        images: ``(N, H, W, C)`` float32 training images (an array or a
            :class:`~disentangle_tf.data.streaming.LazyImages`), as the model reads them.
        labels: per task, ``(N,)`` integer labels (-1: missing).
        batch_size: images per forward pass.
        c: inverse L2 strength (> 0).
        balance: example weighting, one of :data:`LAST_LAYER_BALANCE`.

    Returns:
        Per task, the refit's weighted training accuracy (a float in ``[0, 1]``), or
        None for a task left as it was.

    Raises:
        ValueError: for ``c <= 0``, an unknown ``balance``, or a classifier that does not
            end in a Dense layer.

    Example:

    >>> retrain_last_layer(model, train.images, train.labels)  # doctest: +SKIP
    {'background': 1.0, 'shape': 0.998}
    """
    from sklearn.linear_model import LogisticRegression

    if not c > 0:
        raise ValueError(f"c must be > 0; got {c!r}")
    accuracy = {task: None for task in model.task_names}
    # Only tasks with two classes or more labelled are refitted; the others keep their layer.
    refitted = [i for i, task in enumerate(model.task_names)
                if len(np.unique(np.asarray(labels[task])[_known(labels[task])])) >= 2]
    inputs = {i: last_dense_inputs(model.classifiers[i]) for i in refitted}
    hidden = {i: [] for i in refitted}
    for start in range(0, len(images), batch_size):
        batch = np.asarray(images[start:start + batch_size], dtype="float32")
        for i in refitted:
            hidden[i].append(np.asarray(inputs[i](model.encoders[i](batch, training=False), training=False)))
    for i in refitted:
        task, classifier = model.task_names[i], model.classifiers[i]
        h = np.concatenate(hidden[i]).astype("float64")
        y = np.asarray(labels[task]).astype("int64")
        weights = balanced_weights(labels, task, balance)
        known = weights > 0
        mean, std = h[known].mean(axis=0), h[known].std(axis=0) + 1e-6
        standardised = (h[known] - mean) / std
        fit = LogisticRegression(C=c, max_iter=5000).fit(standardised, y[known], sample_weight=weights[known])
        last = classifier.layers[-1]
        coef, intercept = _full_coefficients(fit, last.units)
        last.kernel.assign((coef.T / std[:, None]).astype(last.kernel.dtype))
        last.bias.assign((intercept - (mean / std) @ coef.T).astype(last.bias.dtype))
        accuracy[task] = float(np.average(fit.predict(standardised) == y[known], weights=weights[known]))
    return accuracy


def _known(y) -> np.ndarray:
    """``(N,)`` bool: where ``y``'s label is given (not :data:`MISSING_LABEL`)."""
    return np.asarray(y).astype("int64") != MISSING_LABEL


def _full_coefficients(fit, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """``(num_classes, D)`` coefficients and ``(num_classes,)`` intercepts of a fitted
    logistic regression: a binary fit's single row becomes the logits ``(-z/2, z/2)``;
    a class absent from the refit gets a logit far below the others."""
    coef = np.zeros((num_classes, fit.coef_.shape[1]))
    intercept = np.full(num_classes, -1e4)
    classes = fit.classes_
    if len(classes) == 2:
        coef[classes[0]], coef[classes[1]] = -fit.coef_[0] / 2, fit.coef_[0] / 2
        intercept[classes[0]], intercept[classes[1]] = -fit.intercept_[0] / 2, fit.intercept_[0] / 2
    else:
        coef[classes], intercept[classes] = fit.coef_, fit.intercept_
    return coef, intercept
