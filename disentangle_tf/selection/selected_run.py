"""One training run whose setting is chosen first by held-out-combination selection.

:func:`run_selected` is what ``python -m disentangle_tf.train --selection
held-out-combination`` (or ``--method selected``) runs: it finds the eligible
combinations of the training split (:mod:`~disentangle_tf.selection.combinations`), scores every grid point on
a seeded sample of them (:mod:`~disentangle_tf.selection.grid`), then trains the chosen point on all the data as
an ordinary run (:func:`disentangle_tf.run.training.run`) and adds to its output
directory ``selection.json`` (every point, its scores and the rule) and, in
``metrics.json``, the chosen point's estimate under ``"held_out_combination"``. Where no
combination is eligible it says so in one line and trains the configuration as given.
"""

from __future__ import annotations

import json
import pathlib
from typing import Callable, Mapping, Sequence

from .combinations import eligible_combinations, relevant_task_of
from .grid import (HELD_OUT_COMBINATION, LEAST_LEAKAGE, TOLERANCE, Selection, choose_least_leakage, point_label,
                   select_setting)
from .held_out import HELD_OUT_COMBINATIONS, sample_combinations

#: The key of the estimate in ``metrics.json``.
METRICS_KEY = "held_out_combination"


def plan(data, count: int = HELD_OUT_COMBINATIONS, seed: int = 0):
    """``(relevant, combinations, eligible)``: the relevant task (the data set's, else
    the one with the most classes), the seeded sample of eligible combinations to hold
    out, and every eligible one (both empty when none is)."""
    relevant = relevant_task_of(data.tasks, data.relevant_task)
    eligible = eligible_combinations(data.train, data.tasks, relevant)
    return relevant, sample_combinations(eligible, count, seed), eligible


def no_combination_line(data, relevant: str, given: Mapping | None = None) -> str:
    """The one line said when held-out-combination validation does not apply; ``given``, the
    values the grid would have chosen, as the configuration holds them (named in the line)."""
    values = f" ({point_label(given)})" if given else ""
    return (f"held-out-combination selection: no combination of the training labels can stand in for an unseen one "
            f"(relevant task {relevant}, {len(data.tasks)} task{'s' * (len(data.tasks) != 1)}; "
            f"docs/generalisation.rst); training the configuration as given{values}")


def write_selection(output_dir: pathlib.Path, selection: Selection) -> None:
    """Add ``selection.json`` and the estimate in ``metrics.json`` to a finished run's directory."""
    from ..run.writes import write_text_atomically

    write_text_atomically(output_dir / "selection.json", json.dumps(selection.as_dict(), indent=2) + "\n")
    metrics_path = output_dir / "metrics.json"
    metrics = json.loads(metrics_path.read_text())
    metrics[METRICS_KEY] = {**selection.estimate.as_dict(), "settings": dict(selection.point)}
    write_text_atomically(metrics_path, json.dumps(metrics, indent=2) + "\n")
    import tensorflow as tf  # loaded by the run already

    writer = tf.summary.create_file_writer(str(output_dir / "logs"))
    with writer.as_default():
        tf.summary.scalar(f"final/held_out_combination/{selection.estimate.relevant}_accuracy",
                          selection.estimate.estimate, step=0)
    writer.close()


def run_selected(config, points: Sequence[Mapping], output_dir=None, data=None, echo: Callable[[str], None] = print,
                 train: Callable | None = None, rule: str = HELD_OUT_COMBINATION, **run_kwargs):
    """Choose a grid point by held-out-combination validation (or ``rule="least-leakage"``:
    :func:`run_least_leakage`), then train it on all the data.

    Args:
        config: the run's configuration; each point's keys replace its values.
        points: the grid (:data:`disentangle_tf.run.methods.SELECTION_GRID` by default on the command line).
        output_dir: the final run's directory (as in :func:`disentangle_tf.run.training.run`).
        data: the data set; None loads ``config.data.dataset``.
        echo: called with the progress lines.
        train: ``train(config, data) -> RunResult`` for the held-out trainings (default:
            :func:`~disentangle_tf.run.training.run` writing nothing).
        **run_kwargs: passed to the final :func:`~disentangle_tf.run.training.run`.

    Returns:
        ``(result, selection)``: the final run's :class:`~disentangle_tf.run.result.RunResult`
        and the :class:`~disentangle_tf.selection.grid.Selection` (None when no combination is eligible).

    Raises:
        As :func:`disentangle_tf.run.training.run`.
    """
    from ..run.datasets import load_dataset
    from ..run.training import run

    data = load_dataset(config.data) if data is None else data
    if rule == LEAST_LEAKAGE:
        return run_least_leakage(config, points, output_dir, data, echo, train, **run_kwargs)
    relevant, combinations, eligible = plan(data, seed=config.data.seed)
    if not combinations:
        flat = config.to_flat_dict()
        echo(no_combination_line(data, relevant, {key: flat[key] for point in points for key in point}))
        return run(config, output_dir=output_dir, data=data, **run_kwargs), None
    held = "; ".join(c.describe() for c in combinations)
    echo(f"held-out-combination selection: {len(points)} settings x {len(combinations)} of {len(eligible)} eligible "
         f"combinations held out in turn ({held})")
    selection = select_setting(config, data, points, relevant, combinations, train=train, echo=echo)
    echo(f"chosen: {point_label(selection.point)} (expected {relevant} accuracy on an unseen combination "
         f"{selection.estimate.estimate:.3f}); training it on all the data")
    result = run(config.replace(selection.point, source="selection grid"), output_dir=output_dir, data=data,
                 **run_kwargs)
    if output_dir is not None:
        write_selection(pathlib.Path(output_dir), selection)
    return result, selection


def run_least_leakage(config, points: Sequence[Mapping], output_dir, data, echo: Callable[[str], None] = print,
                      train: Callable | None = None, **run_kwargs):
    """``least-leakage`` selection: train every point once, choose by
    :func:`~disentangle_tf.selection.grid.choose_least_leakage`, then train the chosen
    point again as the run that writes ``output_dir`` (with ``selection.json``).

    Returns:
        ``(result, None)``: the final run's result (there is no held-out estimate).
    """
    from ..evaluation.forward import predict_outputs
    from ..run.training import run
    from .combinations import relevant_task_of
    from .leakage import within_class_leakage

    if train is None:
        def train(settings, reduced):
            return run(settings, data=reduced, verbose=0)

    relevant = relevant_task_of(data.tasks, data.relevant_task)
    validation, leakage = [], []
    for point in points:
        result = train(config.replace(point, source="selection grid"), data)
        validation.append(float(result.metrics["val"]["accuracy"][relevant]))
        features = predict_outputs(result.model, data.validation)["features"][relevant]
        leakage.append(within_class_leakage(features, data.validation, data.tasks, relevant, seed=config.data.seed))
        shown = "none" if leakage[-1] is None else f"{leakage[-1]:.3f}"
        echo(f"  {point_label(point)}: validation {relevant} accuracy {validation[-1]:.3f}, within-class leakage {shown}")
    chosen = choose_least_leakage(validation, leakage)
    echo(f"chosen: {point_label(points[chosen])} (least leakage within {TOLERANCE:g} of the best validation "
         "accuracy); training it again as the run")
    result = run(config.replace(points[chosen], source="selection grid"), output_dir=output_dir, data=data,
                 **run_kwargs)
    if output_dir is not None:
        from ..run.writes import write_text_atomically

        write_text_atomically(pathlib.Path(output_dir) / "selection.json", json.dumps({
            "selection": LEAST_LEAKAGE, "chosen": chosen,
            "points": [{"settings": dict(p), "label": point_label(p), "validation_accuracy": v, "leakage": k}
                       for p, v, k in zip(points, validation, leakage)]}, indent=2) + "\n")
    return result, None
