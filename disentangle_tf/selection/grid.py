"""Choosing a setting from a small grid by held-out-combination validation.

The rule (``held-out-combination`` selection): every grid point is scored by
:func:`~disentangle_tf.selection.held_out.held_out_estimate` on the same held-out
combinations; the points whose relevant-task validation accuracy (on the reduced
validation splits) is within :data:`TOLERANCE` of the best point's are *admissible*;
the admissible point with the highest held-out estimate is chosen (the first in grid
order on a tie). The tolerance keeps a setting that would buy accuracy on the held-out
combinations with accuracy on the seen ones from being chosen.

``least-leakage`` needs no held-out training: each point is trained once on all the data,
and among the points within the same tolerance of the best validation accuracy the one
whose relevant-task features carry the least of the other tasks within a class is chosen
(:func:`choose_least_leakage`).
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Mapping, Sequence

from .combinations import Combination
from .held_out import HeldOutEstimate, held_out_estimate

#: Most relevant-task validation accuracy (a fraction) a chosen point may give up against the best point.
TOLERANCE = 0.02

#: The names of the rules, as ``--selection`` spells them.
HELD_OUT_COMBINATION = "held-out-combination"
LEAST_LEAKAGE = "least-leakage"
RULES = (HELD_OUT_COMBINATION, LEAST_LEAKAGE)


def point_label(point: Mapping) -> str:
    """``"independence_weight=10,independence_layers=features"``: a grid point as text."""
    return ",".join(f"{key}={value:g}" if isinstance(value, float) else f"{key}={value}"
                    for key, value in point.items())


def points_with(points: Sequence[Mapping], given: Mapping) -> tuple:
    """The grid's points that agree with ``given``, the values the user set of keys some point
    varies (a value given replaces a method's, its grid's included)."""
    return tuple(point for point in points if all(given[key] == value for key, value in point.items() if key in given))


@dataclasses.dataclass(frozen=True)
class Selection:
    """What held-out-combination selection measured and chose.

    Attributes:
        points: the grid points (settings laid over the run's configuration).
        estimates: one :class:`~disentangle_tf.selection.held_out.HeldOutEstimate` per point.
        chosen: the index of the chosen point.
    """

    points: tuple[Mapping, ...]
    estimates: tuple[HeldOutEstimate, ...]
    chosen: int

    @property
    def point(self) -> Mapping:
        """The chosen point's settings."""
        return self.points[self.chosen]

    @property
    def estimate(self) -> HeldOutEstimate:
        """The chosen point's held-out estimate."""
        return self.estimates[self.chosen]

    def as_dict(self) -> dict:
        """JSON-ready: the rule, every point with its scores, and the chosen index."""
        best = max(e.validation_accuracy for e in self.estimates)
        return {
            "selection": HELD_OUT_COMBINATION,
            "rule": f"highest held-out estimate among points within {TOLERANCE:g} of the best relevant-task "
                    "validation accuracy",
            "points": [{"settings": dict(point), "label": point_label(point),
                        "admissible": e.validation_accuracy >= best - TOLERANCE, **e.as_dict()}
                       for point, e in zip(self.points, self.estimates)],
            "chosen": self.chosen,
        }


def choose(estimates: Sequence[HeldOutEstimate], tolerance: float = TOLERANCE) -> int:
    """The index the rule of the module chooses among ``estimates`` (one per point, in grid order)."""
    best = max(e.validation_accuracy for e in estimates)
    admissible = [i for i, e in enumerate(estimates) if e.validation_accuracy >= best - tolerance]
    return max(admissible, key=lambda i: (estimates[i].estimate, -i))


def choose_least_leakage(validation: Sequence[float], leakage: Sequence[float | None],
                         tolerance: float = TOLERANCE) -> int:
    """``least-leakage``: among the points whose relevant-task validation accuracy is within
    ``tolerance`` of the best, the one whose features leak the least
    (:func:`~disentangle_tf.selection.leakage.within_class_leakage`; a point without a
    leakage score counts as leaking most; the first in grid order on a tie)."""
    best = max(validation)
    admissible = [i for i, v in enumerate(validation) if v >= best - tolerance]
    return min(admissible, key=lambda i: (float("inf") if leakage[i] is None else leakage[i], i))


def select_setting(config, data, points: Sequence[Mapping], relevant: str, combinations: Sequence[Combination],
                   train: Callable | None = None, echo: Callable[[str], None] | None = None) -> Selection:
    """Score every point of ``points`` by held-out-combination validation and choose one.

    Args:
        config: the run's configuration (:class:`~disentangle_tf.run.config.RunConfig`);
            each point's keys replace its values.
        data: the data set (training and validation splits used).
        points: the grid: mappings of configuration keys.
        relevant: the relevant task.
        combinations: the combinations to hold out (the same for every point).
        train: as in :func:`~disentangle_tf.selection.held_out.held_out_estimate`.
        echo: called with one line per scored point.

    Returns:
        A :class:`Selection`.

    Raises:
        ValueError: if ``points`` or ``combinations`` is empty.
    """
    if not points:
        raise ValueError("held-out-combination selection needs at least one grid point")
    estimates = []
    for point in points:
        estimate = held_out_estimate(config.replace(point, source="selection grid"), data, relevant, combinations,
                                     train=train)
        estimates.append(estimate)
        if echo is not None:
            echo(f"  {point_label(point)}: held-out {relevant} accuracy {estimate.estimate:.3f}, "
                 f"validation {estimate.validation_accuracy:.3f}")
    return Selection(tuple(points), tuple(estimates), choose(estimates))
