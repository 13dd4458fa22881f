"""Post-hoc leakage probes: how much of another task's label frozen features still hold.

An adversary trained along with the encoders can be fooled: an encoder may hide
information from that one adversary (or flip its predictions) without losing it. A
probe fitted *after* training, on frozen features of held-out images, measures what
the features really hold. For every ordered pair of tasks ``(i, j)``, ``i != j``, two
classifiers read task ``j``'s label from task ``i``'s features:

- ``linear``: logistic regression on standardised features;
- ``mlp``: a small multilayer perceptron (one hidden layer of 64 units, L-BFGS, at
  most 300 iterations, seeded) on the standardised features reduced by PCA to at most
  64 dimensions (the encoders' flattened features can have over a thousand
  dimensions; PCA keeps the fit fast).

Probes are fitted on one split (the validation split by default: never the scored
splits) and scored with balanced accuracy (the mean recall over classes, so that
chance is ``1 / classes`` whatever the class balance). On a split holding a single
class of the probed task (the synthetic ``unseen`` split: every background is black)
it is the recall of that class.

When the labels of two tasks are correlated (in the synthetic training split every
circle lies on white), features that are good for task ``i`` predict task ``j``
through task ``i``'s own label, and an unconditional probe cannot tell that apart
from leakage. *Conditional* probes are therefore also fitted within each class ``c``
of task ``i`` where at least two values of task ``j`` occur in the fitting split with
at least ``min_per_value`` examples each (e.g. background from the shape features on
rectangles only), restricted to those values; their mean over classes is reported
too.

Images without a label (-1,
:data:`~disentangle_tf.data.labelled_images.MISSING_LABEL`) for a task a probe needs
(its target, and for a conditional probe also the features' own task) are left out of
its fit and its score.

Rows are tidy dictionaries ``{"method", "seed", "split", "measure", "value"}`` with
measures named

- ``probe_<kind>:<i>-><j>`` and ``probe_chance:<i>-><j>``;
- ``probe_<kind>_within:<i>-><j>|<class>`` and ``probe_chance_within:<i>-><j>|<class>``;
- ``probe_<kind>_within_mean:<i>-><j>`` (the mean over the classes scored).

where ``<kind>`` is ``linear`` or ``mlp``.
"""

from __future__ import annotations

import warnings
from typing import Mapping, Sequence

import numpy as np

PROBE_KINDS = ("linear", "mlp")
MLP_PCA_DIMENSIONS = 64


def _make_probe(kind: str, seed: int, samples: int, dimensions: int):
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if kind == "linear":
        return make_pipeline(StandardScaler(), LogisticRegression(max_iter=500))
    components = max(1, min(MLP_PCA_DIMENSIONS, samples - 1, dimensions))
    return make_pipeline(
        StandardScaler(),
        PCA(n_components=components, random_state=seed),
        MLPClassifier(hidden_layer_sizes=(64,), solver="lbfgs", early_stopping=False, max_iter=300,
                      random_state=seed),
    )


def _balanced_accuracy(labels, predictions) -> float:
    from sklearn.metrics import balanced_accuracy_score

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a split may hold a single class
        return float(balanced_accuracy_score(labels, predictions))


def _fit(kind, seed, features, labels):
    from threadpoolctl import threadpool_limits

    probe = _make_probe(kind, seed, len(labels), features.shape[1])
    # One BLAS thread: these fits are small, and threads only contend with each other.
    with warnings.catch_warnings(), threadpool_limits(1):
        warnings.simplefilter("ignore")  # convergence notes of short fits
        probe.fit(features, labels)
    return probe


def probe_rows(
    features: Mapping[str, Mapping[str, np.ndarray]],
    labels: Mapping[str, Mapping[str, np.ndarray]],
    tasks: Sequence,
    fit_split: str = "val",
    score_splits: Sequence[str] = ("test", "unseen"),
    method: str = "",
    seed: int = 0,
    kinds: Sequence[str] = PROBE_KINDS,
    min_per_value: int = 5,
) -> list[dict]:
    """Probe rows from precomputed features.

    Args:
        features: ``{split: {task: (N, D) features of that task's encoder}}``.
        labels: ``{split: {task: (N,) integer labels}}``, -1 where an image has no
            label for the task (left out of the probes that need it); a split may lack
            a task's labels, and is then not scored for probes that need them.
        tasks: the tasks (:class:`~disentangle_tf.task_spec.TaskSpec`: ``name``,
            ``num_classes``, ``class_names``) in model order.
        fit_split: the split the probes are fitted on.
        score_splits: the splits they are scored on.
        method, seed: copied into every row.
        kinds: probe kinds, among ``"linear"`` and ``"mlp"``.
        min_per_value: examples each value of the label task needs within a class of
            the features' task for a conditional probe.

    Returns:
        A list of row dictionaries (see the module documentation).
    """
    rows = []

    def add(split, measure, value):
        rows.append({"method": method, "seed": seed, "split": split, "measure": measure, "value": float(value)})

    def labelled(split, task):
        """The split's labels of ``task``, -1 (missing) everywhere if it has none."""
        values = labels.get(split, {}).get(task)
        count = len(np.asarray(features[split][tasks[0].name])) if split in features else 0
        return np.full(count, -1, np.int64) if values is None else np.asarray(values).astype(np.int64)

    for source in tasks:
        for target in tasks:
            if source.name == target.name:
                continue
            pair = f"{source.name}->{target.name}"
            x_fit = np.asarray(features[fit_split][source.name])
            y_fit = labelled(fit_split, target.name)
            given_fit = y_fit >= 0
            if not given_fit.any():
                continue
            scored = [s for s in score_splits if (labelled(s, target.name) >= 0).any()]
            # Unconditional probes, on the images labelled for the target task.
            if len(np.unique(y_fit[given_fit])) >= 2:
                for kind in kinds:
                    probe = _fit(kind, seed, x_fit[given_fit], y_fit[given_fit])
                    for split in scored:
                        y_split = labelled(split, target.name)
                        given = y_split >= 0
                        predictions = probe.predict(np.asarray(features[split][source.name])[given])
                        add(split, f"probe_{kind}:{pair}", _balanced_accuracy(y_split[given], predictions))
                for split in scored:
                    add(split, f"probe_chance:{pair}", 1.0 / target.num_classes)
            # Conditional probes, within each class of the source task.
            own_fit = labelled(fit_split, source.name)
            class_names = source.class_labels
            within: dict[tuple[str, str], list[float]] = {}
            for c, class_name in enumerate(class_names):
                in_class = (own_fit == c) & given_fit
                values, counts = np.unique(y_fit[in_class], return_counts=True)
                kept = values[counts >= min_per_value]
                if len(kept) < 2:
                    continue
                fit_mask = in_class & np.isin(y_fit, kept)
                targets = []
                for split in scored:
                    y_split = labelled(split, target.name)
                    mask = (labelled(split, source.name) == c) & np.isin(y_split, kept)
                    if mask.any():
                        targets.append((split, mask, y_split[mask]))
                if not targets:
                    continue
                for kind in kinds:
                    probe = _fit(kind, seed, x_fit[fit_mask], y_fit[fit_mask])
                    for split, mask, y_split in targets:
                        predictions = probe.predict(np.asarray(features[split][source.name])[mask])
                        value = _balanced_accuracy(y_split, predictions)
                        add(split, f"probe_{kind}_within:{pair}|{class_name}", value)
                        within.setdefault((kind, split), []).append(value)
                for split, _, _ in targets:
                    add(split, f"probe_chance_within:{pair}|{class_name}", 1.0 / len(kept))
            for (kind, split), scores in within.items():
                add(split, f"probe_{kind}_within_mean:{pair}", np.mean(scores))
    return rows


def leakage_probes(
    model,
    splits: Mapping,
    fit_split: str = "val",
    score_splits: Sequence[str] = ("test", "unseen"),
    method: str = "",
    seed: int = 0,
    outputs: Mapping[str, dict] | None = None,
    **kwargs,
) -> list[dict]:
    """Probe rows for a trained :class:`~disentangle_tf.models.Disentangler`.

    Args:
        model: the trained model (its encoders give the frozen features).
        splits: ``{name: LabelledImages}`` holding ``fit_split`` and ``score_splits``.
        fit_split, score_splits, method, seed: as in :func:`probe_rows`.
        outputs: ``{split: predict_outputs(model, splits[split])}`` if already
            computed (saves a pass over the images).
        **kwargs: passed to :func:`probe_rows` (``kinds``, ``min_per_value``).
    """
    from .forward import predict_outputs  # TensorFlow: only probes of a model need it

    outputs = dict(outputs or {})
    names = [fit_split, *score_splits]
    for name in names:
        if name not in outputs:
            outputs[name] = predict_outputs(model, splits[name])
    features = {name: outputs[name]["features"] for name in names}
    labels = {name: {t: np.asarray(v) for t, v in splits[name].labels.items()} for name in names}
    return probe_rows(features, labels, model.tasks, fit_split=fit_split, score_splits=score_splits,
                      method=method, seed=seed, **kwargs)
