"""What a training run returns."""

from __future__ import annotations

import dataclasses
import pathlib


@dataclasses.dataclass
class RunResult:
    """What a run produced.

    Attributes:
        model: the trained model (a :class:`~disentangle_tf.models.Disentangler`, or a
            :class:`~disentangle_tf.models.ensemble.DisentanglerEnsemble` for
            ``ensemble_size`` above 1).
        metrics: per evaluated split, task and adversary accuracies (``metrics.json``).
        history: per-epoch values of every tracked metric.
        output_dir: where the files were written (None if nothing was written).
        relevant_task: the task whose accuracy on a combination absent from training is
            the run's headline (the data set's ``relevant_task``; empty: none named).
        headline: what the run achieved, a sentence per kind of evaluated split
            (:func:`~disentangle_tf.run.headline.headline`).
    """

    model: object
    metrics: dict
    history: dict
    output_dir: pathlib.Path | None
    relevant_task: str = ""
    headline: list = dataclasses.field(default_factory=list)
