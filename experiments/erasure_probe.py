"""Diagnosis runs: does erasing the nuisance from a trained model's features help its refit?

Trains ``--method`` (with ``--point`` laid over it) on one seed of a generated data set,
then reads the inputs ``h`` of the relevant task's last dense layer (in inference mode) on
the training split and on every split the comparisons score, and refits that layer as the
last-layer retraining does (a logistic regression on standardised ``h``, class-then-group
balanced weights, ``C`` = 100) after removing from ``h``:

- ``refit``: nothing;
- ``erase``: the directions in which the nuisance's classes differ within a class of the
  relevant task (the within-class mean differences of every other task, over the classes
  that have more than one of its values, orthonormalised);
- ``leace``: the same after whitening ``h`` with its within-group covariance, then
  un-whitening (an oblique projection, as LEACE: Belrose et al., "LEACE: Perfect linear
  concept erasure in closed form", NeurIPS 2023, applied within classes);
- ``translate``: nothing, but the mean within-class shift of the nuisance's value 1 from
  its value 0 subtracted from every image with value 1 (its true label: a bound on what a
  correction by the model's own nuisance prediction could do);

and, as a ceiling, ``oracle_refit``: the plain refit with half of the unseen-combination
images (``unseen`` and ``unseen_val`` pooled, weight 5) added to its training data, scored
on the other half (the mean of five random halves): whether the features hold what the
unseen combination needs at all.

One JSON line per seed: the relevant task's accuracy of the trained model and of each refit
on every split (the unseen combination included: a diagnosis records it, nothing chooses
on it), and the time. With ``--features-dir``, ``h`` and the labels are saved there
(``<dataset>-<method>-<seed>.npz``, about 1 MB at 32 x 32) so that other refits need no
training.

Usage (from outside the checkout, with a fixed install)::

    python experiments/erasure_probe.py digits-shadow --seed 200 --image-size 32 32 \\
        --method "lambda=0 precise-bn" --output experiments/results/erasure-diagnosis.jsonl
"""

from __future__ import annotations

import argparse
import json
import pathlib
import time

import numpy as np

from probe_run import add_run_arguments, append_line, command_line, probe_run, relevant_accuracy


def within_class_differences(h: np.ndarray, labels: dict, task: str) -> np.ndarray:
    """``(K, D)``: for each class of ``task`` and each other task with two values or more
    in that class, the differences of the other task's class means from their mean."""
    y = labels[task]
    rows = []
    for other, z in labels.items():
        if other == task:
            continue
        for c in np.unique(y[y >= 0]):
            values = [v for v in np.unique(z[(y == c) & (z >= 0)])]
            if len(values) < 2:
                continue
            means = np.stack([h[(y == c) & (z == v)].mean(axis=0) for v in values])
            rows.extend(means - means.mean(axis=0))
    return np.asarray(rows).reshape(-1, h.shape[1])


def eraser(h: np.ndarray, labels: dict, task: str, whiten: bool) -> np.ndarray:
    """``(D, D)`` matrix ``P`` (applied as ``h @ P``) removing the within-class nuisance
    directions of :func:`within_class_differences`, in whitened coordinates if ``whiten``."""
    dimension = h.shape[1]
    if whiten:
        groups = np.stack([labels[t] for t in labels], axis=1)
        _, group = np.unique(groups, axis=0, return_inverse=True)
        centred = h - np.stack([h[group == g].mean(axis=0) for g in range(group.max() + 1)])[group]
        covariance = centred.T @ centred / len(h) + 1e-3 * np.eye(dimension)
        values, vectors = np.linalg.eigh(covariance)
        w = vectors @ np.diag(values ** -0.5) @ vectors.T
        w_inverse = vectors @ np.diag(values ** 0.5) @ vectors.T
    else:
        w = w_inverse = np.eye(dimension)
    differences = within_class_differences(h @ w, labels, task)
    u, s, _ = np.linalg.svd(differences.T, full_matrices=False)
    basis = u[:, s > 1e-6 * max(s.max(), 1e-12)]
    return w @ (np.eye(dimension) - basis @ basis.T) @ w_inverse, basis.shape[1]


def refit_accuracy(h_train, labels, task, evaluations, projection=None, c=100.0) -> dict:
    from sklearn.linear_model import LogisticRegression

    from disentangle_tf.models.last_layer import balanced_weights

    projection = np.eye(h_train.shape[1]) if projection is None else projection
    x = h_train @ projection
    y = labels[task]
    weights = balanced_weights(labels, task, "class_group")
    known = weights > 0
    mean, std = x[known].mean(axis=0), x[known].std(axis=0) + 1e-6
    fit = LogisticRegression(C=c, max_iter=5000).fit((x[known] - mean) / std, y[known],
                                                     sample_weight=weights[known])
    return {name: round(float(np.mean(fit.predict((h @ projection - mean) / std) == labels_[task])), 4)
            for name, (h, labels_) in evaluations.items()}


def translate_accuracy(h_train, labels, task, evaluations, c=100.0) -> dict:
    """:func:`refit_accuracy` after subtracting, from images whose other task (the first)
    is 1, the mean within-class shift of that task's value 1 from its value 0."""
    other = next(name for name in labels if name != task)
    y, z = labels[task], labels[other]
    both = [k for k in np.unique(y[y >= 0]) if ((y == k) & (z == 0)).any() and ((y == k) & (z == 1)).any()]
    shift = np.mean([h_train[(y == k) & (z == 1)].mean(axis=0) - h_train[(y == k) & (z == 0)].mean(axis=0)
                     for k in both], axis=0)

    def moved(h, zs):
        return h - np.outer(zs == 1, shift)

    return refit_accuracy(moved(h_train, z), labels, task,
                          {n: (moved(h, ls[other]), ls) for n, (h, ls) in evaluations.items()}, c=c)


def oracle_refit_accuracy(h_train, labels, task, unseen, c=100.0, repeats=5) -> float:
    """The plain refit's accuracy on half of the ``unseen`` ``(h, labels)`` with the other
    half added to its training data (weight 5), the mean over ``repeats`` random halves."""
    from sklearn.linear_model import LogisticRegression

    h_unseen, y_unseen = unseen[0], unseen[1][task]
    mean, std = h_train.mean(axis=0), h_train.std(axis=0) + 1e-6
    scores = []
    for repeat in range(repeats):
        order = np.random.RandomState(repeat).permutation(len(h_unseen))
        added, scored = order[:len(order) // 2], order[len(order) // 2:]
        fit = LogisticRegression(C=c, max_iter=5000).fit(
            (np.concatenate([h_train, h_unseen[added]]) - mean) / std,
            np.concatenate([labels[task], y_unseen[added]]),
            sample_weight=np.concatenate([np.ones(len(h_train)), np.full(len(added), 5.0)]))
        scores.append(np.mean(fit.predict((h_unseen[scored] - mean) / std) == y_unseen[scored]))
    return round(float(np.mean(scores)), 4)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_run_arguments(parser, method="lambda=0 precise-bn")
    parser.add_argument("--features-dir", type=pathlib.Path, help="where to save the features (default: not saved)")
    args = parser.parse_args(argv)
    method, config, data, task = probe_run(args)
    from disentangle_tf.models.last_layer import last_dense_inputs
    from disentangle_tf.run.training import run

    started = time.time()
    result = run(config, data=data, verbose=0)
    model = result.model
    index = model.task_names.index(task)
    inputs = last_dense_inputs(model.classifiers[index])

    def features(images):
        batches = [np.asarray(inputs(model.encoders[index](np.asarray(images[s:s + 100], "float32"),
                                                           training=False), training=False))
                   for s in range(0, len(images), 100)]
        return np.concatenate(batches).astype("float64")

    def as_arrays(labels):
        return {t: np.asarray(v).astype("int64") for t, v in labels.items()}

    h_train, train_labels = features(data.train.images), as_arrays(data.train.labels)
    evaluations = {name: (features(split.images), as_arrays(split.labels)) for name, split in data.evaluation.items()
                   if task in split.labels and (np.asarray(split.labels[task]) >= 0).any()}
    trained = relevant_accuracy(result, task)
    erase, erased_rank = eraser(h_train, train_labels, task, whiten=False)
    leace, _ = eraser(h_train, train_labels, task, whiten=True)
    line = {"command": command_line("erasure_probe.py", argv), "dataset": args.dataset, "method": method.name,
            "point": json.loads(args.point), "seed": args.seed, "epochs": args.epochs, "seconds": round(time.time() - started, 1),
            "erased_rank": erased_rank, "trained": trained,
            "refit": refit_accuracy(h_train, train_labels, task, evaluations),
            "erase": refit_accuracy(h_train, train_labels, task, evaluations, erase),
            "leace": refit_accuracy(h_train, train_labels, task, evaluations, leace),
            "translate": translate_accuracy(h_train, train_labels, task, evaluations)}
    unseen = [evaluations[n] for n in ("unseen", "unseen_val") if n in evaluations]
    if unseen:
        pooled = (np.concatenate([h for h, _ in unseen]),
                  {t: np.concatenate([ls[t] for _, ls in unseen]) for t in unseen[0][1]})
        line["oracle_refit"] = oracle_refit_accuracy(h_train, train_labels, task, pooled)
    if args.features_dir is not None:
        args.features_dir.mkdir(parents=True, exist_ok=True)
        name = f"{args.dataset}-{method.name.replace(' ', '_')}-{args.seed}.npz"
        np.savez_compressed(args.features_dir / name, h_train=h_train,
                            **{f"train_{t}": v for t, v in train_labels.items()},
                            **{f"{n}_h": h for n, (h, _) in evaluations.items()},
                            **{f"{n}_{t}": v for n, (_, ls) in evaluations.items() for t, v in ls.items()})
    append_line(args.output, line)
    print(json.dumps({k: line[k] for k in line if k not in ("command", "point", "method")}), flush=True)


if __name__ == "__main__":
    main()
