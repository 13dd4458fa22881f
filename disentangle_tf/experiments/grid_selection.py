"""Choosing a grid method's point in a comparison from the training data alone.

:func:`select_from_training_data` is what ``python -m disentangle_tf.reproduce
--selection held-out-combination`` (or ``least-leakage``) does for a method with a grid
(:mod:`disentangle_tf.selection`): it trains every point on all the data and scores it on
every split (recorded, never used to choose), scores it by held-out-combination
validation and by within-class leakage on the validation split, and chooses by the rule of
:mod:`disentangle_tf.selection.grid`.
"""

from __future__ import annotations

import numpy as np

from ..data.dataset_splits import DatasetSplits
from ..run.config import RunConfig
from ..run.methods import Method


def grid_keys(method: Method) -> list[str]:
    """The keys a method's grid varies: its list values, or the keys of its explicit points."""
    if method.points:
        return list(dict.fromkeys(key for point in method.points for key in point))
    return [key for key, value in method.settings.items() if isinstance(value, list)]


def grid_label(method: Method, point) -> str:
    """A grid point as text, its varied keys only (``independence_weight=10,independence_layers=features``)."""
    from ..selection.grid import point_label

    return point_label({key: point[key] for key in grid_keys(method)})


def fallback_point(method: Method, grid: list[dict], results) -> int:
    """The point kept where no combination is eligible: the one that leaves the method's own
    settings as they are (``selected``: the recommended setting), as ``train`` trains the
    configuration as given; for a grid of list values, the best mean validation accuracy."""
    for index, point in enumerate(grid):
        if all(method.settings.get(key) == point[key] for key in grid_keys(method)):
            return index
    return max(range(len(grid)), key=lambda i: (np.mean(list(results[i].metrics["val"]["accuracy"].values())), -i))


def train_once(settings: RunConfig, data: DatasetSplits, trained: dict | None = None):
    """The run of ``settings`` on ``data``'s training split, scored on every split of ``data.evaluation``.

    ``trained`` maps a configuration and a training split to the run that trained it
    (one dict per seed of a comparison): a run found there is not trained again, only
    scored on the splits it was not scored on. Rows that share a setting share its run:
    ``selected by leakage`` the four points ``selected`` trained, ``selected`` the point
    that is ``recommended``.

    Returns:
        The :class:`~disentangle_tf.run.result.RunResult` (its ``metrics`` completed in place).
    """
    from ..run.training import run

    key = (settings.to_json(), id(data.train))
    result = None if trained is None else trained.get(key)
    if result is None:
        result = run(settings, data=data, verbose=0)
        if trained is not None:
            trained[key] = result
    missing = [name for name in data.evaluation if name not in result.metrics]
    if missing:
        from ..evaluation.evaluate import evaluate_split

        result.metrics.update({name: evaluate_split(result.model, data.evaluation[name],
                                                    settings.data.batch_size) for name in missing})
    return result


def select_from_training_data(config: RunConfig, method: Method, grid: list[dict], data: DatasetSplits,
                              seed: int, echo=print, rule: str = "held-out-combination", trained: dict | None = None):
    """Selection of one method's grid point on one seed from the training data alone.

    ``rule`` is ``"held-out-combination"`` or ``"least-leakage"``
    (:mod:`disentangle_tf.selection.grid`); the leakage score is recorded for every point
    under either rule, the held-out estimates under the first only (they cost two
    trainings a point).

    Every point is also trained on all the data and scored on every split, so that the
    estimate can be compared with the accuracy it stands for; those scores are recorded,
    never used to choose. Where no combination is eligible, a line says so and the
    configuration as given is kept, as ``train`` does (:func:`fallback_point`).

    ``trained`` (a dict kept across the methods of one seed, :func:`train_once`): a point
    another row of the seed has trained on the same data is scored, not trained again.

    Returns:
        ``(point, result, rows)``: the chosen point, its full run and the rows of every point
        (``point:<label>|held_out_estimate``, ``|held_out_relative``, ``|held_out_validation``,
        ``|leakage`` on ``selection``; ``point:<label>|accuracy:<task>`` on each split).
    """
    from ..evaluation.forward import predict_outputs
    from ..selection.grid import LEAST_LEAKAGE, choose, choose_least_leakage
    from ..selection.held_out import held_out_estimate
    from ..selection.leakage import within_class_leakage
    from ..selection.selected_run import no_combination_line, plan

    relevant, combinations, _ = plan(data, seed=seed)
    rows, results, estimates, leakages, validation = [], [], [], [], []

    def add(split, measure, value):
        if value is not None:
            rows.append({"method": method.name, "seed": seed, "split": split, "measure": measure, "value": float(value)})

    for point in grid:
        settings = config.replace(point, source=f"method {method.name}")
        result = train_once(settings, data, trained)
        results.append(result)
        label = grid_label(method, point)
        for split, values in result.metrics.items():
            for task, accuracy in values["accuracy"].items():
                add(split, f"point:{label}|accuracy:{task}", accuracy)
        features = predict_outputs(result.model, data.validation)["features"][relevant]
        leakages.append(within_class_leakage(features, data.validation, data.tasks, relevant, seed=seed))
        validation.append(float(result.metrics["val"]["accuracy"][relevant]))
        add("selection", f"point:{label}|leakage", leakages[-1])
        if combinations and rule != LEAST_LEAKAGE:
            estimate = held_out_estimate(settings, data, relevant, combinations)
            estimates.append(estimate)
            add("selection", f"point:{label}|held_out_estimate", estimate.estimate)
            add("selection", f"point:{label}|held_out_relative", estimate.relative)
            add("selection", f"point:{label}|held_out_validation", estimate.validation_accuracy)
    if rule == LEAST_LEAKAGE:
        chosen = choose_least_leakage(validation, leakages)
    elif combinations:
        chosen = choose(estimates)
    else:
        echo(no_combination_line(data, relevant))
        chosen = fallback_point(method, grid, results)
    return grid[chosen], results[chosen], rows
