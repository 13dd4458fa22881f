"""Figures: PCA of the heads' hidden features (the paper's Fig. 11), training curves,
sample images of every group of a data set, and a task's confusion matrix and
reliability diagram.

The paper's Fig. 11 projects the *penultimate dense layer* (the hidden layer output
just before the logits) by PCA onto two dimensions: for the classifier of task ``i``
("relevant features", clusters of task ``i``'s classes should separate) and for the
adversary reading task ``j`` from task ``i``'s features ("irrelevant features",
clusters of task ``j``'s classes should mix).

Figures are written with Matplotlib's ``Agg`` backend (no display needed).
"""

from __future__ import annotations

import pathlib
from typing import Mapping

import numpy as np

from ..data.labelled_images import MISSING_LABEL, LabelledImages
from .forward import predict_outputs, split_labels


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(figure, path, title: str = "") -> pathlib.Path:
    """Write ``figure`` as a PNG (100 dpi) and close it."""
    if title:
        figure.suptitle(title, fontsize=9)
    figure.tight_layout()
    path = pathlib.Path(path)
    figure.savefig(path, dpi=100)
    _pyplot().close(figure)
    return path


_SCORE_FIGURE_ARGUMENTS = """
    Args:
        scores: :func:`disentangle_tf.evaluation.scores.classification_scores`'s result
            for one task ({keys}), as in ``metrics.json``.
        path: the PNG file to write.
        title: the figure's title.

    Returns:
        The path written.
"""


def _score_figure(*keys: str):
    """Turn ``draw(plt, scores) -> figure`` into ``plot(scores, path, title="") -> path``.

    The figure of one task's scores is drawn by the decorated function and written by
    :func:`_save`; the docstring gains the arguments, naming the score ``keys`` read.
    """

    def decorate(draw):
        def plot(scores: Mapping, path, title: str = "") -> pathlib.Path:
            return _save(draw(_pyplot(), scores), path, title)

        plot.__name__, plot.__qualname__, plot.__module__ = draw.__name__, draw.__qualname__, draw.__module__
        keys_text = ", ".join(f"``{key}``" for key in keys)
        if draw.__doc__ is not None:  # None under python -OO
            plot.__doc__ = draw.__doc__.rstrip() + "\n" + _SCORE_FIGURE_ARGUMENTS.format(keys=keys_text)
        return plot

    return decorate


def penultimate_model(head):
    """A model mapping a head's input features to its last hidden layer's output."""
    import keras

    return keras.Model(head.input, head.layers[-2].output)


def hidden_features(model, features: Mapping[str, np.ndarray], labels: Mapping[str, np.ndarray] | None = None) -> dict:
    """The penultimate-layer outputs of every classifier and adversary.

    Args:
        model: a :class:`~disentangle_tf.models.Disentangler`.
        features: ``{task: (N, D)}`` encoder features (``predict_outputs(...)["features"]``).
        labels: ``{task: (N,)}`` integer labels, read by conditional adversaries
            (:meth:`~disentangle_tf.models.Disentangler.adversary_inputs`); required then.

    Returns:
        ``{"relevant": {task: (N, H)}, "irrelevant": {pair: (N, H)}}``; ``pair`` is an
        adversary name ``"<features task>_to_<label task>"``.
    """
    import keras

    def run(head, x):
        sub = penultimate_model(head)
        return np.concatenate([
            keras.ops.convert_to_numpy(sub(x[start:start + 256], training=False))
            for start in range(0, len(x), 256)
        ]) if len(x) else np.zeros((0, 1))

    relevant = {t: run(cls, np.asarray(features[t])) for t, cls in zip(model.task_names, model.classifiers)}
    task_features = [np.asarray(features[t], "float32") for t in model.task_names]
    task_labels = [None if labels is None else np.asarray(labels[t]) for t in model.task_names]
    inputs = model.adversary_inputs(task_features, task_labels)
    irrelevant = {
        name: run(adversary, np.asarray(x))
        for adversary, name, x in zip(model.adversaries, model.adversary_names, inputs)
    }
    return {"relevant": relevant, "irrelevant": irrelevant}


def _project(values: np.ndarray) -> np.ndarray:
    from sklearn.decomposition import PCA

    values = np.asarray(values, dtype="float64").reshape(len(values), -1)
    components = min(2, values.shape[0], values.shape[1])
    projected = PCA(n_components=components).fit_transform(values) if components else values
    if projected.shape[1] < 2:
        projected = np.concatenate([projected, np.zeros((len(projected), 2 - projected.shape[1]))], axis=1)
    return projected


def _scatter(ax, points, labels, class_names, title):
    markers = ("o", "x", "^", "s", "+", "v")  # distinct markers keep overlapping clusters visible
    missing = labels == MISSING_LABEL
    if missing.any():  # images without this task's label: grey, beneath the classes
        ax.scatter(points[missing, 0], points[missing, 1], s=6, alpha=0.3, marker=".", color="0.6",
                   label="no label")
    for k, name in enumerate(class_names):
        chosen = labels == k
        if chosen.any():
            ax.scatter(points[chosen, 0], points[chosen, 1], s=10, alpha=0.5, marker=markers[k % len(markers)],
                       label=str(name))
    ax.set_title(title, fontsize=8)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.legend(fontsize=6, markerscale=2, loc="best")


def plot_pca(model, data, path, title: str = "", outputs: dict | None = None) -> pathlib.Path:
    """Fig. 11 for one model: PCA of relevant and irrelevant hidden features.

    One row per task ``i``: the classifier's hidden features coloured by task ``i``'s
    label, then for every other task ``j`` the hidden features of the adversary reading
    ``j`` from ``i``'s features, coloured by ``j``'s label. Tasks whose labels ``data``
    lacks (or that has no image labelled for them) are left out; images without the
    label a panel is coloured by are grey. Conditional adversaries read the predicted
    class where the label is missing, as in evaluation.

    Args:
        model: a trained :class:`~disentangle_tf.models.Disentangler`.
        data: the labelled images to project (a test split).
        path: the PNG file to write.
        title: the figure's title.
        outputs: ``predict_outputs(model, data)`` if already computed.

    Returns:
        The path written.
    """
    plt = _pyplot()
    outputs = outputs or predict_outputs(model, data)
    given = {t: split_labels(data, t) for t in model.task_names}
    labels = {t: np.where(given[t] == MISSING_LABEL, np.argmax(outputs["logits"][t], axis=-1), given[t])
              for t in model.task_names}
    hidden = hidden_features(model, outputs["features"], labels)
    names = list(model.task_names)
    spec = {t.name: t for t in model.tasks}

    def class_names(task):
        return spec[task].class_labels

    labelled = {t for t in names if np.any(given[t] != MISSING_LABEL)}
    rows = [i for i, t in enumerate(names) if t in labelled]
    columns = max(1, len(names))
    figure, axes = plt.subplots(max(1, len(rows)), columns, figsize=(3 * columns, 2.8 * max(1, len(rows))),
                                squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for r, i in enumerate(rows):
        task = names[i]
        ax = axes[r, 0]
        ax.axis("on")
        _scatter(ax, _project(hidden["relevant"][task]), given[task], class_names(task),
                 f"{task} features, relevant: {task}")
        column = 1
        for (a, j), pair in zip(model.adversary_pairs, model.adversary_names):
            other = names[j]
            if a != i or other not in labelled:
                continue
            ax = axes[r, column]
            ax.axis("on")
            _scatter(ax, _project(hidden["irrelevant"][pair]), given[other],
                     class_names(other), f"{task} features, irrelevant: {other}")
            column += 1
    return _save(figure, path, title)


def plot_training_curves(histories: Mapping[str, dict], path) -> pathlib.Path:
    """Task and adversary accuracy per epoch, one panel per model.

    Args:
        histories: ``{model name: history}`` with Keras ``History.history`` dicts
            (training curves solid, validation curves dashed).
        path: the PNG file to write.

    Returns:
        The path written.
    """
    plt = _pyplot()
    count = max(1, len(histories))
    columns = min(3, count)
    rows = -(-count // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(4 * columns, 3 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (name, history) in zip(axes.flat, histories.items()):
        ax.axis("on")
        for key in sorted(history):
            if not key.endswith("_accuracy") or key.startswith("val_"):
                continue
            epochs = np.arange(1, len(history[key]) + 1)
            line, = ax.plot(epochs, history[key], marker="o", markersize=3, label=key.replace("_accuracy", ""))
            if f"val_{key}" in history:
                ax.plot(epochs, history[f"val_{key}"], linestyle="--", marker="o", markersize=3,
                        color=line.get_color())
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("epoch", fontsize=8)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.set_ylabel("accuracy (dashed: validation)", fontsize=8)
        ax.set_ylim(-0.02, 1.02)
        ax.legend(fontsize=6)
    return _save(figure, path)


def plot_group_samples(splits: Mapping[str, "LabelledImages"], path, per_group: int = 4,
                       title: str = "") -> pathlib.Path:
    """A grid of sample images: one row per group, from the first split that holds it.

    Each image is shown as the eye sees it: its first channel rescaled to [0, 1] on its
    own (minimum black, maximum white), in grey levels, with a thin frame so that an
    image with a white background stands out from the page.
    Standardised images (zero mean, unit variance per image) therefore look like the
    raw ones.

    Args:
        splits: ``{split name: LabelledImages}`` whose ``groups`` name each image's
            group (such as ``"LVOT-with"``); splits are searched in the given order.
        path: the PNG file to write.
        per_group: images shown per group (the first ones of the split).
        title: figure title.

    Returns:
        The path written.

    Raises:
        ValueError: if no split has group names.
    """
    plt = _pyplot()
    rows = {}
    for split_name, split in splits.items():
        if split.groups is None:
            continue
        groups = np.asarray(split.groups)
        for group in dict.fromkeys(groups.tolist()):
            if group not in rows:
                rows[group] = (split_name, split.images[np.flatnonzero(groups == group)[:per_group]])
    if not rows:
        raise ValueError("splits: no split names the groups of its images")
    figure, axes = plt.subplots(len(rows), per_group, figsize=(1.6 * per_group, 1.4 * len(rows)),
                                squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for row, (group, (split_name, images)) in zip(axes, sorted(rows.items())):
        for ax, image in zip(row, images):
            ax.axis("on")
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_linewidth(0.5)
                spine.set_color("0.5")
            ax.imshow(_display_range(image[..., 0]), cmap="gray", vmin=0.0, vmax=1.0,
                      interpolation="nearest")
        row[0].set_title(f"{group} ({split_name})", fontsize=7, loc="left")
    return _save(figure, path, title)


def _display_range(image: np.ndarray) -> np.ndarray:
    """One image rescaled to [0, 1] for display: its minimum to 0, its maximum to 1.

    Args:
        image: any real array (such as a ``(height, width)`` float32 image, raw or
            standardised).

    Returns:
        A float32 array of the same shape with values in [0, 1]. A constant image is
        0.5 everywhere; non-finite values are 0 (black) and do not count for the range.
    """
    image = np.asarray(image, dtype=np.float64)
    finite = np.isfinite(image)
    if not finite.any():
        return np.zeros(image.shape, np.float32)
    low, high = image[finite].min(), image[finite].max()
    if high == low:
        scaled = np.full(image.shape, 0.5)
    else:
        scaled = (image - low) / (high - low)
    return np.where(finite, scaled, 0.0).astype(np.float32)


@_score_figure("confusion_matrix", "class_accuracy")
def plot_confusion_matrix(plt, scores: Mapping):
    """A task's confusion matrix: counts, and each row's share in colour."""
    matrix = np.asarray(scores["confusion_matrix"], dtype=np.int64)
    names = list(scores["class_accuracy"])
    rows = matrix.sum(axis=1, keepdims=True)
    shares = np.divide(matrix, rows, out=np.zeros(matrix.shape), where=rows > 0)
    size = 1.2 + 0.7 * len(names)
    figure, ax = plt.subplots(figsize=(size + 1.0, size))
    image = ax.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0)
    for i in range(len(names)):
        for j in range(len(names)):
            ax.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=8,
                    color="white" if shares[i, j] > 0.5 else "black")
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right", fontsize=7)
    ax.set_yticks(range(len(names)), names, fontsize=7)
    ax.set_xlabel("predicted", fontsize=8)
    ax.set_ylabel("true", fontsize=8)
    figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of the true class")
    return figure


@_score_figure("reliability", "expected_calibration_error")
def plot_reliability(plt, scores: Mapping):
    """A task's reliability diagram: accuracy against top-label confidence per bin.

    Bars: the accuracy of each non-empty confidence bin, over the bin; dots: the
    bin's mean confidence, on the diagonal (perfect calibration), so that a bar's
    distance from its dot is the bin's calibration gap. The title carries the expected calibration error
    (Guo et al., ICML 2017, Fig. 1).
    """
    reliability = scores["reliability"]
    bins = int(reliability["bins"])
    confidence = np.asarray(reliability["confidence"], dtype=float)
    # The bin of each mean confidence (a bin's mean lies in the bin), as scores bins it.
    centres = (np.searchsorted(np.linspace(0.0, 1.0, bins + 1)[1:-1], confidence) + 0.5) / bins
    figure, ax = plt.subplots(figsize=(3.6, 3.4))
    ax.plot([0, 1], [0, 1], linestyle="--", color="0.5", linewidth=1, label="calibrated")
    ax.bar(centres, reliability["accuracy"], width=1.0 / bins, alpha=0.7, edgecolor="black", linewidth=0.5,
           label="accuracy")
    ax.scatter(confidence, confidence, s=12, color="black", zorder=3, label="mean confidence")
    for x, y, n in zip(centres, reliability["accuracy"], reliability["images"]):
        ax.text(x, min(y + 0.02, 0.95), str(n), ha="center", fontsize=6)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("confidence (largest probability)", fontsize=8)
    ax.set_ylabel("accuracy", fontsize=8)
    ax.set_title(f"ECE {scores['expected_calibration_error']:.3f}; bar labels: images", fontsize=8)
    ax.legend(fontsize=6, loc="upper left")
    return figure
