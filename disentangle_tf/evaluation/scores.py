"""Scores of one classification task on one split: accuracy per class, balanced
accuracy, confusion matrix, one-vs-rest ROC AUC and calibration.

:func:`classification_scores` is the one place where a task's predictions are scored;
the training run's evaluation (:mod:`disentangle_tf.evaluation.evaluate`) uses it for every task
on every split. Rows whose label is missing
(:data:`~disentangle_tf.data.labelled_images.MISSING_LABEL`, -1) are left out.

The measures are scikit-learn's:

- ``class_accuracy``: the recall of each class (``sklearn.metrics.recall_score``
  with ``average=None``): of the images of class ``k``, the fraction predicted ``k``.
- ``balanced_accuracy``: the mean of those recalls over the classes present
  (``sklearn.metrics.balanced_accuracy_score``; Brodersen et al., "The balanced
  accuracy and its posterior distribution", ICPR 2010).
- ``confusion_matrix``: ``(K, K)`` counts, row ``i`` the images of class ``i``,
  column ``j`` those predicted ``j`` (``sklearn.metrics.confusion_matrix``).
- ``roc_auc``: per class, the area under the ROC curve of that class's probability
  against all other classes (one-vs-rest, ``sklearn.metrics.roc_auc_score``);
  ``None`` when the class is absent from the labelled rows, or is all of them.
- ``expected_calibration_error``: of the top-label confidence (the largest
  probability) in ``bins`` equal-width bins of ``[0, 1]``, the mean over images of
  ``|accuracy of its bin - mean confidence of its bin|`` (Guo et al., "On calibration
  of modern neural networks", ICML 2017, Eq. 3); the per-bin values are
  ``sklearn.calibration.calibration_curve`` of "the prediction is right" against the
  confidence.
"""

from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np

from ..data.labelled_images import MISSING_LABEL

__all__ = ["CALIBRATION_BINS", "classification_scores"]

CALIBRATION_BINS = 10
"""Equal-width confidence bins of the calibration error and reliability diagram."""


def _none_if_nan(value) -> float | None:
    value = float(value)
    return None if np.isnan(value) else value


def classification_scores(
    labels,
    probabilities,
    class_names: Sequence[str],
    bins: int = CALIBRATION_BINS,
) -> dict | None:
    """Score one task's predicted class probabilities against its labels.

    Args:
        labels: ``(N,)`` integer class indices in ``[0, K)``, or -1
            (:data:`~disentangle_tf.data.labelled_images.MISSING_LABEL`) for a row
            without a label (left out of every score).
        probabilities: ``(N, K)`` predicted class probabilities (softmax outputs;
            each row sums to 1); the prediction is the most probable class.
        class_names: the ``K`` class names, index ``k`` naming class ``k``.
        bins: equal-width confidence bins of the calibration error.

    Returns:
        ``None`` when no row has a label. Otherwise a dictionary of plain JSON
        values::

            {"images": n,                       # labelled rows scored
             "accuracy": a,                     # fraction predicted right
             "balanced_accuracy": b,            # mean recall over classes present
             "class_accuracy": {name: recall or None},   # None: class absent
             "support": {name: images of that class},
             "confusion_matrix": [[count, ...], ...],    # K x K, rows true, columns predicted
             "roc_auc": {name: auc or None},             # one-vs-rest
             "roc_auc_mean": mean of the defined per-class AUCs or None,
             "expected_calibration_error": e,
             "reliability": {"bins": bins, "confidence": [...], "accuracy": [...],
                             "images": [...]}}          # per non-empty bin, in order

    Raises:
        ValueError: if the shapes disagree, ``class_names`` does not match ``K``, a
            label is below -1 or not below ``K``, or a probability is outside
            ``[0, 1]``.
    """
    from sklearn.calibration import calibration_curve

    from sklearn.metrics import balanced_accuracy_score, confusion_matrix, recall_score, roc_auc_score

    labels = np.asarray(labels)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    names = [str(name) for name in class_names]
    count = len(names)
    if probabilities.ndim != 2 or probabilities.shape != (len(labels), count):
        raise ValueError(
            f"probabilities: expected shape ({len(labels)}, {count}) for {len(labels)} labels and "
            f"{count} classes; got {probabilities.shape}"
        )
    if labels.ndim != 1 or (len(labels) and not np.issubdtype(labels.dtype, np.integer)):
        raise ValueError(f"labels: expected (N,) integer class indices; got shape {labels.shape}, dtype {labels.dtype}")
    if len(labels) and (labels.min() < MISSING_LABEL or labels.max() >= count):
        raise ValueError(
            f"labels: class indices must be in [0, {count}) or {MISSING_LABEL} (missing); "
            f"found {int(labels.min())}..{int(labels.max())}"
        )
    if bins < 1:
        raise ValueError(f"bins must be >= 1; got {bins}")
    kept = labels != MISSING_LABEL
    if not kept.any():
        return None
    labels, probabilities = labels[kept].astype(np.int64), probabilities[kept]
    if not np.isfinite(probabilities).all() or probabilities.min() < -1e-6 or probabilities.max() > 1 + 1e-6:
        raise ValueError("probabilities: expected finite values in [0, 1]")
    probabilities = np.clip(probabilities, 0.0, 1.0)
    predictions = probabilities.argmax(axis=1)
    classes = list(range(count))

    recall = recall_score(labels, predictions, labels=classes, average=None, zero_division=np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # predictions of classes absent from the labels
        balanced = balanced_accuracy_score(labels, predictions)
    matrix = confusion_matrix(labels, predictions, labels=classes)
    support = matrix.sum(axis=1)

    auc = {}
    for k, name in enumerate(names):
        positive = labels == k
        auc[name] = float(roc_auc_score(positive, probabilities[:, k])) if 0 < positive.sum() < len(labels) else None
    defined = [value for value in auc.values() if value is not None]

    confidence = probabilities.max(axis=1)
    correct = (predictions == labels).astype(np.int64)
    bin_accuracy, bin_confidence = calibration_curve(correct, confidence, n_bins=bins, strategy="uniform",
                                                     pos_label=1)
    # Images per non-empty bin, binned as calibration_curve bins them.
    edges = np.linspace(0.0, 1.0, bins + 1)
    per_bin = np.bincount(np.searchsorted(edges[1:-1], confidence), minlength=bins)
    per_bin = per_bin[per_bin > 0]
    calibration_error = float(np.sum(per_bin * np.abs(bin_accuracy - bin_confidence)) / len(labels))

    return {
        "images": int(len(labels)),
        "accuracy": float(np.mean(correct)),
        "balanced_accuracy": float(balanced),
        "class_accuracy": {name: _none_if_nan(value) for name, value in zip(names, recall)},
        "support": {name: int(n) for name, n in zip(names, support)},
        "confusion_matrix": matrix.astype(int).tolist(),
        "roc_auc": auc,
        "roc_auc_mean": float(np.mean(defined)) if defined else None,
        "expected_calibration_error": calibration_error,
        "reliability": {
            "bins": int(bins),
            "confidence": [float(v) for v in bin_confidence],
            "accuracy": [float(v) for v in bin_accuracy],
            "images": [int(n) for n in per_bin],
        },
    }
