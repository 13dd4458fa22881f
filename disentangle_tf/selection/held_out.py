"""Held-out-combination validation: train without a combination of labels, score the relevant task on it.

For each chosen combination of the training split
(:func:`~disentangle_tf.selection.combinations.eligible_combinations`), a model is
trained with the same settings on the training and validation splits without that
combination's images, and its relevant-task accuracy on those images is measured. The
mean over combinations estimates the accuracy of the same settings on a combination
never seen in training. Nothing of the test or unseen splits is used.

Two numbers are kept per combination besides its accuracy: the relevant task's accuracy
on the reduced validation split (what the setting costs on seen combinations), and on
the validation images of the held-out combination's class (its other combinations),
so that the held-out accuracy can be read relative to how well that class is
recognised where it was seen (:attr:`HeldOutEstimate.relative`).
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Sequence

import numpy as np

from ..data.dataset_splits import DatasetSplits
from .combinations import Combination, without_combination

#: Combinations held out per setting when there are more eligible ones (a seeded sample).
HELD_OUT_COMBINATIONS = 2

#: The evaluation split holding a held-out combination's images in each training.
HELD_OUT_SPLIT = "held_out"


@dataclasses.dataclass(frozen=True)
class CombinationScore:
    """One held-out combination's result.

    Attributes:
        combination: the combination trained without.
        accuracy: relevant-task accuracy on its images (a fraction in [0, 1]).
        images: how many images that is.
        validation_accuracy: relevant-task accuracy on the reduced validation split.
        class_accuracy: relevant-task accuracy on the validation images of the
            combination's relevant class (its other combinations); None if there are none.
    """

    combination: Combination
    accuracy: float
    images: int
    validation_accuracy: float
    class_accuracy: float | None

    def as_dict(self) -> dict:
        return {**self.combination.as_dict(), "accuracy": self.accuracy, "held_out_images": self.images,
                "validation_accuracy": self.validation_accuracy, "class_validation_accuracy": self.class_accuracy}


@dataclasses.dataclass(frozen=True)
class HeldOutEstimate:
    """Held-out-combination validation of one setting.

    Attributes:
        relevant: the relevant task.
        scores: one :class:`CombinationScore` per held-out combination.
    """

    relevant: str
    scores: tuple[CombinationScore, ...]

    @property
    def estimate(self) -> float:
        """Mean held-out accuracy: the expected accuracy on an unseen combination."""
        return float(np.mean([s.accuracy for s in self.scores]))

    @property
    def validation_accuracy(self) -> float:
        """Mean relevant-task accuracy on the reduced validation splits."""
        return float(np.mean([s.validation_accuracy for s in self.scores]))

    @property
    def relative(self) -> float | None:
        """Mean of held-out accuracy over the class's validation accuracy (None where undefined)."""
        ratios = [s.accuracy / s.class_accuracy for s in self.scores if s.class_accuracy]
        return float(np.mean(ratios)) if ratios else None

    def as_dict(self) -> dict:
        return {"relevant_task": self.relevant, "estimate": self.estimate,
                "validation_accuracy": self.validation_accuracy, "relative": self.relative,
                "combinations": [s.as_dict() for s in self.scores]}


def sample_combinations(eligible: Sequence[Combination], count: int = HELD_OUT_COMBINATIONS,
                        seed: int = 0) -> list[Combination]:
    """Up to ``count`` of ``eligible`` drawn with ``seed`` (all of them when there are no more), in label order."""
    if len(eligible) <= count:
        return list(eligible)
    chosen = np.random.default_rng(seed).choice(len(eligible), size=count, replace=False)
    return [eligible[i] for i in sorted(chosen)]


def _class_accuracy(model_metrics: dict, relevant: str, class_name: str) -> float | None:
    value = model_metrics["class_accuracy"].get(relevant, {}).get(class_name)
    return None if value is None else float(value)


def held_out_estimate(config, data: DatasetSplits, relevant: str, combinations: Sequence[Combination],
                      train: Callable | None = None) -> HeldOutEstimate:
    """Train ``config`` without each of ``combinations`` and score ``relevant`` on its images.

    Args:
        config: the setting (:class:`~disentangle_tf.run.config.RunConfig`).
        data: the user's data set; only its training and validation splits are used.
        relevant: the relevant task's name.
        combinations: the combinations to hold out, one training each.
        train: ``train(config, data) -> RunResult``, evaluating ``data.evaluation``;
            default :func:`disentangle_tf.run.training.run` with nothing written.

    Returns:
        A :class:`HeldOutEstimate`.

    Raises:
        ValueError: if ``combinations`` is empty.
    """
    if not combinations:
        raise ValueError("held-out-combination validation needs at least one combination to hold out")
    if train is None:
        from ..run.training import run  # TensorFlow: loaded once the input is checked

        def train(settings, reduced):
            return run(settings, data=reduced, verbose=0)

    scores = []
    for combination in combinations:
        reduced, held_out = without_combination(data, combination)
        reduced.evaluation[HELD_OUT_SPLIT] = held_out
        metrics = train(config, reduced).metrics
        class_name = combination.names[combination.tasks.index(relevant)]
        scores.append(CombinationScore(
            combination=combination,
            accuracy=float(metrics[HELD_OUT_SPLIT]["accuracy"][relevant]),
            images=len(held_out),
            validation_accuracy=float(metrics["val"]["accuracy"][relevant]),
            class_accuracy=_class_accuracy(metrics["val"], relevant, class_name),
        ))
    return HeldOutEstimate(relevant, tuple(scores))
