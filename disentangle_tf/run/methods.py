"""Named methods: the settings that make each row of a comparison, as data.

A method is a set of configuration keys (those of :class:`~disentangle_tf.run.config.RunConfig`)
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
        points: explicit grid points, each a mapping of keys laid over ``settings``
            (a grid over several keys at once); empty for none.
    """

    name: str
    settings: Mapping
    description: str
    oracle: bool = False
    points: tuple = ()

    def grid(self) -> list[dict]:
        """The settings of every grid point (one when no value is a list and there are no ``points``)."""
        if self.points:
            return [{**self.settings, **point} for point in self.points]
        points = [{}]
        for key, value in self.settings.items():
            options = value if isinstance(value, (list, tuple)) and key in GRID_KEYS else [value]
            points = [{**point, key: option} for point in points for option in options]
        return points


#: Keys whose list value is a grid (other keys, such as ``image_size``, take lists as values).
GRID_KEYS = ("adversarial_weight", "independence_weight")

#: Every key a method decides, at its neutral value (no penalty, the paper's sampling).
#: Each method starts from it, so that a row never inherits another method's choice.
NEUTRAL = {
    "adversarial_weight": 0.0,
    "adversarial_objective": "maximize_cross_entropy",
    "adversarial_training": "alternating",
    "adversary_batches": "same",
    "adversary_steps": 5,
    "conditional_adversaries": False,
    "independence_weight": 0.0,
    "independence_bandwidth": "class",
    "independence_layers": "features",
    "penalty_schedule": "constant",
    "sampling": "uniform",
    "restore_best_weights": False,
    "precise_batch_norm": 0,
    "last_layer_retraining": False,
    "ensemble_size": 1,
    "error_upweight": 0,
}

#: The recommended setting: see docs/method.rst for what it is, why, and what it costs.
RECOMMENDED = {
    "independence_weight": 10.0,
    "independence_layers": "block_maps",
    "sampling": "group_balanced",
    "precise_batch_norm": 30,
    "last_layer_retraining": True,
}

#: The penalty on the blocks' global averages only, the recommended setting of before.
_BLOCKS = {**RECOMMENDED, "independence_layers": "blocks"}

_PAPER = {"adversarial_objective": "maximize_cross_entropy", "adversary_batches": "fresh", "adversary_steps": 5}


#: The grid ``selected`` chooses from by held-out-combination validation
#: (:mod:`disentangle_tf.selection`): the recommended setting with no penalty, the penalty on the
#: features alone, and on the block maps at two weights.
SELECTION_GRID = (
    {"independence_weight": 0.0, "independence_layers": "features"},
    {"independence_weight": 10.0, "independence_layers": "features"},
    {"independence_weight": 2.0, "independence_layers": "block_maps"},
    {"independence_weight": 10.0, "independence_layers": "block_maps"},
)

#: The keys :data:`SELECTION_GRID` varies (what a ``selected`` row reports as chosen).
SELECTION_KEYS = ("independence_weight", "independence_layers")


def _method(name, settings, description, oracle=False, points=()) -> Method:
    return Method(name, {**NEUTRAL, **settings}, description, oracle, tuple(points))


METHODS: dict[str, Method] = {
    m.name: m
    for m in [
        _method("lambda=0", {}, "both tasks, no adversarial term (the adversaries are trained as probes)"),
        _method("paper", {**_PAPER, "adversarial_weight": 0.01},
                "the paper's objective as published: alternating updates, fresh adversary batches, 5 steps, "
                "lambda 0.01 (the authors' code)"),
        _method("paper grid", {**_PAPER, "adversarial_weight": [0.01, 0.1]},
                "the paper's method with lambda chosen from 0.01 and 0.1 by model selection"),
        _method("uniform", {"adversarial_weight": 0.1, "adversarial_objective": "uniform"},
                "adversaries pushed towards the uniform prediction"),
        _method("conditional HSIC", {"independence_weight": 10.0},
                "class-conditional HSIC penalty on the features, within-class bandwidth, no adversarial term"),
        _method("conditional adversaries", {"adversarial_weight": [0.01, 0.1], "conditional_adversaries": True},
                "adversaries also read the own task's label; the paper's objective"),
        _method("conditional adversaries uniform", {"adversarial_weight": [0.1, 0.3], "conditional_adversaries": True,
                                                    "adversarial_objective": "uniform"},
                "adversaries also read the own task's label; pushed towards the uniform prediction"),
        _method("gradient reversal", {"adversarial_weight": [0.1, 1.0], "adversarial_training": "gradient_reversal",
                                      "penalty_schedule": "dann", "adversary_steps": 1},
                "one backward pass through a gradient reversal layer, lambda warmed up as in DANN"),
        _method("recommended", RECOMMENDED, "the setting measured to generalise (docs/method.rst)"),
        _method("selected", RECOMMENDED,
                "the recommended setting with the penalty's weight and place chosen from a grid of four "
                "(weight 0; 10 on the features; 2 and 10 on the block maps) by held-out-combination "
                "validation on the training data", points=SELECTION_GRID),
        _method("group balanced", {"sampling": "group_balanced", "precise_batch_norm": 30},
                "lambda=0 with batches in which every combination of labels is equally frequent "
                "(group balancing alone), batch-norm statistics as the recommended setting's"),
        _method("jtt", {"error_upweight": 5, "precise_batch_norm": 30},
                "Just Train Twice (Liu et al., ICML 2021): the training images a first model (a fifth of the "
                "epochs) gets wrong repeated 5 times, then lambda=0 with recomputed batch-norm statistics; "
                "needs no nuisance labels"),
        _method("recommended ensemble", {**RECOMMENDED, "ensemble_size": 3},
                "the recommended setting trained three times from different seeds on the same data, "
                "probabilities averaged (a deep ensemble; three times the training time)"),
        _method("recommended ensemble of 5", {**RECOMMENDED, "ensemble_size": 5},
                "the recommended setting trained five times (the deep-ensembles paper's size; five times the "
                "training time)"),
        _method("blocks retrained", _BLOCKS,
                "the recommended setting with the penalty on the blocks' global averages only (no grid cells)"),
        _method("blocks retrained 25 epochs", {**_BLOCKS, "epochs": 25},
                "'blocks retrained' trained 25 epochs instead of 15"),
        _method("blocks without retraining", {**_BLOCKS, "last_layer_retraining": False},
                "'blocks retrained' with the classifiers as trained (no last-layer retraining)"),
        _method("blocks without retraining 25 epochs", {**_BLOCKS, "last_layer_retraining": False, "epochs": 25},
                "'blocks without retraining' trained 25 epochs instead of 15"),
        _method("block maps without retraining", {**RECOMMENDED, "last_layer_retraining": False},
                "the recommended setting with the classifiers as trained (no last-layer retraining)"),
        _method("lambda=0 retrained", {"precise_batch_norm": 30, "last_layer_retraining": True},
                "lambda=0 with the recommended setting's batch-norm statistics and last-layer retraining "
                "(no penalty)"),
        _method("lambda=0 precise-bn", {"precise_batch_norm": 30},
                "lambda=0 with the recommended setting's batch-norm statistics"),
        _method("oracle", {"precise_batch_norm": 30},
                "lambda=0 trained with the unseen combination added, batch-norm statistics as the "
                "recommended setting's (a ceiling)", oracle=True),
    ]
}


def get_method(name: str) -> Method:
    """The method called ``name``; ValueError naming the choices otherwise."""
    try:
        return METHODS[name]
    except KeyError:
        raise ValueError(f"unknown method {name!r}; expected one of: {', '.join(METHODS)}") from None
