"""Named methods: the settings that make each row of a comparison, as data.

A method is a set of configuration keys (those of :class:`~disentangle_tf.config.RunConfig`)
laid over the run's other settings. ``python -m disentangle_tf.train --method NAME``
trains one; ``python -m disentangle_tf.reproduce --methods NAME,...`` compares several
over seeds. A list value is a grid: ``reproduce`` trains every value and keeps the one
its model selection prefers (the validation split; ``--selection oracle`` uses the
separately generated unseen-combination validation set instead).

``recommended`` is the setting measured to generalise to the unseen combination
(``docs/reproduction.rst``); ``paper`` is the paper's method as published (Meng et al.,
2019: alternating updates, fresh adversary batches, five adversary steps, the encoders
maximising the adversaries' cross-entropy).
"""

from __future__ import annotations

import dataclasses
from typing import Mapping


@dataclasses.dataclass(frozen=True)
class Method:
    """A named method.

    Attributes:
        name: its name on the command line and in result tables.
        settings: configuration keys it sets; a list value is a grid for model selection.
        description: one line for ``--help`` and the docs.
        oracle: trains with the unseen combination added to the training split (a
            ceiling, not a method a user can apply).
    """

    name: str
    settings: Mapping
    description: str
    oracle: bool = False

    def grid(self) -> list[dict]:
        """The settings of every grid point (one when no value is a list)."""
        points = [{}]
        for key, value in self.settings.items():
            options = value if isinstance(value, (list, tuple)) and key in GRID_KEYS else [value]
            points = [{**point, key: option} for point in points for option in options]
        return points


#: Keys whose list value is a grid (other keys, such as ``image_size``, take lists as values).
GRID_KEYS = ("adversarial_weight", "independence_weight")

_NO_PENALTY = {"adversarial_weight": 0.0, "independence_weight": 0.0}

#: The recommended setting: see docs/method.rst for what it is and why.
RECOMMENDED = {
    "adversarial_weight": 0.0,
    "independence_weight": 10.0,
    "independence_bandwidth": "class",
    "sampling": "group_balanced",
}

METHODS: dict[str, Method] = {
    m.name: m
    for m in [
        Method("lambda=0", {**_NO_PENALTY, "adversary_batches": "same"},
               "both tasks, no adversarial term (the adversaries are trained as probes)"),
        Method("paper", {"adversarial_weight": [0.01, 0.1], "adversarial_objective": "maximize_cross_entropy",
                         "adversary_batches": "fresh", "adversary_steps": 5, "independence_weight": 0.0,
                         "adversarial_training": "alternating"},
               "the paper's objective as published: alternating updates, fresh adversary batches, 5 steps"),
        Method("uniform", {"adversarial_weight": 0.1, "adversarial_objective": "uniform",
                           "adversary_batches": "same", "independence_weight": 0.0},
               "adversaries pushed towards the uniform prediction"),
        Method("conditional HSIC", {"adversarial_weight": 0.0, "independence_weight": 10.0,
                                    "adversary_batches": "same"},
               "class-conditional HSIC penalty, within-class bandwidth, no adversarial term"),
        Method("conditional adversaries", {"adversarial_weight": [0.01, 0.1], "conditional_adversaries": True,
                                           "adversarial_objective": "maximize_cross_entropy",
                                           "adversary_batches": "same", "independence_weight": 0.0},
               "adversaries also read the own task's label; the paper's objective"),
        Method("conditional adversaries, uniform", {"adversarial_weight": [0.1, 0.3], "conditional_adversaries": True,
                                                    "adversarial_objective": "uniform",
                                                    "adversary_batches": "same", "independence_weight": 0.0},
               "adversaries also read the own task's label; pushed towards the uniform prediction"),
        Method("gradient reversal", {"adversarial_weight": [0.1, 1.0], "adversarial_training": "gradient_reversal",
                                     "penalty_schedule": "dann", "adversary_steps": 1,
                                     "adversary_batches": "same", "independence_weight": 0.0},
               "one backward pass through a gradient reversal layer, lambda warmed up as in DANN"),
        Method("recommended", {**RECOMMENDED, "adversary_batches": "same"},
               "the setting measured to generalise (docs/method.rst)"),
        Method("oracle", {**_NO_PENALTY, "adversary_batches": "same"},
               "lambda=0 trained with the unseen combination added (a ceiling)", oracle=True),
    ]
}


def get_method(name: str) -> Method:
    """The method called ``name``; ValueError naming the choices otherwise."""
    try:
        return METHODS[name]
    except KeyError:
        raise ValueError(f"unknown method {name!r}; expected one of: {', '.join(METHODS)}") from None
