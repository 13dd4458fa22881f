"""A selection score that needs no extra training: within-class leakage on the validation split.

If a model's relevant-task features carry the nuisance *within* a class of the relevant
task, its decisions can lean on the nuisance, which is what fails on an unseen
combination. The score is the mean, over the other tasks, of a linear probe's balanced
accuracy reading that task from the relevant task's features within each relevant
class (:func:`disentangle_tf.evaluation.probes.probe_rows`), minus chance; the probe is
fitted on one seeded half of the validation split and scored on the other. Lower is
better; 0 is no linear leakage. Used as "the least leakage among the points within
:data:`~disentangle_tf.selection.grid.TOLERANCE` of the best validation accuracy", it is
an alternative to held-out-combination validation at the cost of one forward pass.
"""

from __future__ import annotations

import numpy as np

from ..data.labelled_images import LabelledImages
from ..evaluation.probes import probe_rows


def _halves(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.default_rng(seed).permutation(count)
    return order[: count // 2], order[count // 2:]


def within_class_leakage(features: np.ndarray, validation: LabelledImages, tasks, relevant: str,
                         seed: int = 0) -> float | None:
    """The leakage score of the module.

    Args:
        features: ``(N, D)`` float features of the relevant task's encoder on ``validation``.
        validation: the validation split (its labels).
        tasks: the tasks (:class:`~disentangle_tf.task_spec.TaskSpec`), in model order.
        relevant: the relevant task's name.
        seed: seed of the halves and the probe.

    Returns:
        The mean excess of within-class balanced accuracy over chance, or None where no
        class has two values of another task with enough images in both halves.
    """
    first, second = _halves(len(validation), seed)
    features = np.asarray(features)
    # Every task's "features" are the relevant encoder's: only the probes from the relevant task are read.
    by_half = {"fit": {task.name: features[first] for task in tasks},
               "score": {task.name: features[second] for task in tasks}}
    labels = {"fit": {t: np.asarray(v)[first] for t, v in validation.labels.items()},
              "score": {t: np.asarray(v)[second] for t, v in validation.labels.items()}}
    rows = probe_rows(by_half, labels, tasks, fit_split="fit", score_splits=("score",), seed=seed, kinds=("linear",))
    values = {row["measure"]: row["value"] for row in rows}
    excess = []
    for measure, value in values.items():
        if measure.startswith(f"probe_linear_within:{relevant}->"):
            chance = values[measure.replace("probe_linear_within:", "probe_chance_within:")]
            excess.append(value - chance)
    return float(np.mean(excess)) if excess else None
