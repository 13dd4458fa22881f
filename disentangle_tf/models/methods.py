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

The table lives beside the model, so that ``Disentangler.compile(method=NAME)`` reads
it (:func:`model_settings`); :mod:`disentangle_tf.run.methods` is where the run layer
and its users import it from. It holds the methods a user chooses among; the rows that
recorded comparisons ran to measure what the recommended setting was before and what
each of its parts is worth live with those comparisons
(:mod:`disentangle_tf.experiments.former_methods`), where
``python -m disentangle_tf.reproduce`` finds them.
"""

from __future__ import annotations

import dataclasses
import shlex
from typing import Mapping

from ..data.arguments import MIXUP_PARTNERS, SAMPLING


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
        selection: the rule that chooses its grid point from the training data
            (``"held-out-combination"`` or ``"least-leakage"``,
            :mod:`disentangle_tf.selection.grid`); empty: none, unless the command's
            ``--selection`` names one (which also replaces a method's own).
    """

    name: str
    settings: Mapping
    description: str
    oracle: bool = False
    points: tuple = ()
    selection: str = ""

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
    "independence_penalty": "hsic",
    "group_dro_step_size": 0.0,
    "penalty_schedule": "constant",
    "sampling": "uniform",
    "mixup": 0.0,
    "mixup_partners": "any",
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

#: The baselines recompute their batch-norm statistics as the recommended setting does.
PRECISE_BN = {"precise_batch_norm": RECOMMENDED["precise_batch_norm"]}

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


def over_neutral(name: str, settings: Mapping, description: str, oracle: bool = False, points=(),
                 selection: str = "") -> Method:
    """A :class:`Method` whose ``settings`` are laid over :data:`NEUTRAL`, so that it decides
    every key a method decides (the arguments as :class:`Method`'s)."""
    return Method(name, {**NEUTRAL, **settings}, description, oracle, tuple(points), selection)


METHODS: dict[str, Method] = {
    m.name: m
    for m in [
        over_neutral("lambda=0", {}, "both tasks, no adversarial term (the adversaries are trained as probes)"),
        over_neutral("paper", {**_PAPER, "adversarial_weight": 0.01},
                     "the paper's objective as published: alternating updates, fresh adversary batches, 5 steps, "
                     "lambda 0.01 (the authors' code)"),
        over_neutral("paper grid", {**_PAPER, "adversarial_weight": [0.01, 0.1]},
                     "the paper's method with lambda chosen from 0.01 and 0.1 by model selection"),
        over_neutral("uniform", {"adversarial_weight": 0.1, "adversarial_objective": "uniform"},
                     "adversaries pushed towards the uniform prediction"),
        over_neutral("conditional HSIC", {"independence_weight": 10.0},
                     "class-conditional HSIC penalty on the features, within-class bandwidth, no adversarial term"),
        over_neutral("conditional adversaries", {"adversarial_weight": [0.01, 0.1], "conditional_adversaries": True},
                     "adversaries also read the own task's label; the paper's objective"),
        over_neutral("conditional adversaries uniform",
                     {"adversarial_weight": [0.1, 0.3], "conditional_adversaries": True,
                      "adversarial_objective": "uniform"},
                     "adversaries also read the own task's label; pushed towards the uniform prediction"),
        over_neutral("gradient reversal",
                     {"adversarial_weight": [0.1, 1.0], "adversarial_training": "gradient_reversal",
                      "penalty_schedule": "dann", "adversary_steps": 1},
                     "one backward pass through a gradient reversal layer, lambda warmed up as in DANN"),
        over_neutral("recommended", RECOMMENDED, "the setting measured to generalise (docs/method.rst)"),
        over_neutral("selected", RECOMMENDED,
                     "the recommended setting with the penalty's weight and place chosen from a grid of four "
                     "(weight 0; 10 on the features; 2 and 10 on the block maps) by held-out-combination "
                     "validation on the training data", points=SELECTION_GRID, selection="held-out-combination"),
        over_neutral("selected by leakage", RECOMMENDED,
                     "the same grid, the point chosen by the least within-class leakage on the validation split among "
                     "the points within 0.02 of the best validation accuracy (no held-out training)",
                     points=SELECTION_GRID, selection="least-leakage"),
        over_neutral("group balanced", {"sampling": "group_balanced", **PRECISE_BN},
                     "lambda=0 with batches in which every combination of labels is equally frequent "
                     "(group balancing alone), batch-norm statistics as the recommended setting's"),
        over_neutral("class-conditional coral", {"independence_weight": 1.0, "independence_penalty": "coral",
                                                 **PRECISE_BN},
                     "lambda=0 plus class-conditional CORAL on the features (DomainBed's CORAL, Sun & Saenko 2016, "
                     "between the nuisance labels within each class), weight 1, batch-norm statistics as the "
                     "recommended setting's"),
        over_neutral("group dro", {"group_dro_step_size": 0.01, "sampling": "group_balanced", **PRECISE_BN},
                     "Group DRO (Sagawa et al., ICLR 2020): the task losses of each combination of labels weighted "
                     "online towards the worst (step size 0.01, DomainBed's), group-balanced batches, batch-norm "
                     "statistics as the recommended setting's"),
        over_neutral("jtt", {"error_upweight": 5, **PRECISE_BN},
                     "Just Train Twice (Liu et al., ICML 2021): the training images a first model (a fifth of the "
                     "epochs, batch-norm statistics recomputed) gets wrong repeated 5 times, then lambda=0 with "
                     "recomputed batch-norm statistics; needs no nuisance labels"),
        over_neutral("recommended ensemble", {**RECOMMENDED, "ensemble_size": 3},
                     "the recommended setting trained three times from different seeds on the same data, "
                     "probabilities averaged (a deep ensemble; three times the training time)"),
        over_neutral("recommended ensemble of 5", {**RECOMMENDED, "ensemble_size": 5},
                     "the recommended setting trained five times (the deep-ensembles paper's size; five times the "
                     "training time)"),
        over_neutral("lambda=0 retrained", {**PRECISE_BN, "last_layer_retraining": True},
                     "lambda=0 with the recommended setting's batch-norm statistics and last-layer retraining "
                     "(no penalty)"),
        over_neutral("lambda=0 precise-bn", PRECISE_BN,
                     "lambda=0 with the recommended setting's batch-norm statistics"),
        over_neutral("oracle", PRECISE_BN,
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


# === What a model does of a method: Disentangler.compile(method=...) and fit ===

#: The keys of a method that ``Disentangler.compile`` sets, as its arguments of the same names.
COMPILE_KEYS = ("adversarial_weight", "adversary_steps", "adversary_batches", "adversarial_objective",
                "independence_weight", "independence_bandwidth", "adversarial_training", "independence_layers",
                "independence_penalty", "group_dro_step_size")

#: The keys of a method that ``Disentangler.fit`` carries out when it is given arrays: how its
#: batches are drawn, and the steps after the last epoch.
FIT_KEYS = ("sampling", "mixup", "mixup_partners", "precise_batch_norm", "last_layer_retraining")

#: The keys a compiled model records of its method (``get_compile_config()["method"]``);
#: ``conditional_adversaries`` is the model's architecture, which the method must match.
MODEL_KEYS = (*COMPILE_KEYS, *FIT_KEYS, "conditional_adversaries")

#: ``compile``'s arguments without a method: the paper's method (the ``paper`` row).
PAPER_COMPILE = {key: METHODS["paper"].settings[key] for key in COMPILE_KEYS}


def _run_only(settings: Mapping) -> dict:
    """The settings a model's compile and fit cannot carry out: keys beyond :data:`MODEL_KEYS`
    away from their :data:`NEUTRAL` value (an ensemble, a warm-up schedule, a number of epochs)."""
    return {key: value for key, value in settings.items()
            if key not in MODEL_KEYS and (key not in NEUTRAL or value != NEUTRAL[key])}


def model_methods() -> list[str]:
    """The names of :data:`METHODS` a model can be compiled with (the others need a whole run)."""
    return [name for name, method in METHODS.items()
            if not method.oracle and not any(_run_only(point) for point in method.grid())]


def _as_method(method) -> Method:
    if isinstance(method, Method):
        return dataclasses.replace(method, settings={**NEUTRAL, **method.settings})
    if isinstance(method, str) and method in METHODS:
        return METHODS[method]
    if isinstance(method, str):
        choices = ", ".join(repr(name) for name in model_methods())
        raise ValueError(f"method: unknown method {method!r}; expected one of: {choices}")
    raise TypeError(f"method: expected a name of METHODS or a Method; got {type(method).__name__}")


def model_settings(method, overrides: Mapping | None = None, conditional_adversaries: bool = False) -> dict:
    """What a model compiled with ``method`` does: the method's :data:`MODEL_KEYS`, overrides applied.

    Args:
        method: a name of :data:`METHODS`, or a :class:`Method` (its settings laid over
            :data:`NEUTRAL`, as every row of the table is).
        overrides: values of :data:`COMPILE_KEYS` and :data:`FIT_KEYS` given
            explicitly; they replace the method's, and choose a grid method's point.
        conditional_adversaries: whether the model was built with conditional adversaries.

    Returns:
        Per key of :data:`MODEL_KEYS`, its value: floats ``adversarial_weight`` and
        ``independence_weight``, ints ``adversary_steps`` and ``precise_batch_norm``,
        bools ``last_layer_retraining`` and ``conditional_adversaries``, strings otherwise.

    Raises:
        ValueError: one line, for an unknown name (naming the methods a model can take), a
            method that needs a whole run (an ensemble, a number of epochs, a penalty
            schedule, the oracle's data: :func:`disentangle_tf.run.training.run` trains
            those), a grid whose point the overrides leave open, a method whose
            ``conditional_adversaries`` is not the model's, or a bad ``sampling``,
            ``mixup``, ``mixup_partners`` or ``precise_batch_norm``.
        TypeError: for a ``method`` that is neither a name nor a :class:`Method`.
    """
    method = _as_method(method)
    overrides = dict(overrides or {})
    command = f"python -m disentangle_tf.train --method {shlex.quote(method.name)}"
    points = []
    for point in method.grid():
        point = {**point, **overrides}
        beyond = _run_only(point)
        if beyond or method.oracle:
            what = "sets " + ", ".join(f"{key} {value!r}" for key, value in beyond.items()) if beyond else \
                "trains on data with the unseen combination added (an oracle)"
            raise ValueError(f"method {method.name!r} {what}, which a model's compile and fit do not do; "
                             f"train it with {command} (disentangle_tf.run.training.run)")
        if point not in points:
            points.append(point)
    if len(points) > 1:
        varying = [key for key in points[0] if any(point[key] != points[0][key] for point in points)]
        choose = ", ".join(f"{key}=..." for key in varying)
        raise ValueError(f"method {method.name!r} is a grid of {len(points)} points over {', '.join(varying)}; "
                         f"choose one: compile(method={method.name!r}, {choose})")
    point = points[0]
    if bool(point["conditional_adversaries"]) != bool(conditional_adversaries):
        raise ValueError(f"method {method.name!r} needs a model built with conditional_adversaries="
                         f"{bool(point['conditional_adversaries'])}; this one has {bool(conditional_adversaries)}")
    if point["sampling"] not in SAMPLING:
        raise ValueError(f"method {method.name!r}: sampling must be one of {', '.join(SAMPLING)}; "
                         f"got {point['sampling']!r}")
    if not float(point["mixup"]) >= 0:
        raise ValueError(f"method {method.name!r}: mixup must be >= 0; got {point['mixup']}")
    if point["mixup_partners"] not in MIXUP_PARTNERS:
        raise ValueError(f"method {method.name!r}: mixup_partners must be one of {', '.join(MIXUP_PARTNERS)}; "
                         f"got {point['mixup_partners']!r}")
    if int(point["precise_batch_norm"]) < 0:
        raise ValueError(f"method {method.name!r}: precise_batch_norm must be >= 0; got {point['precise_batch_norm']}")
    settings = {key: point[key] for key in MODEL_KEYS}
    for key, kind in (("adversarial_weight", float), ("independence_weight", float), ("mixup", float),
                      ("adversary_steps", int),
                      ("precise_batch_norm", int), ("last_layer_retraining", bool),
                      ("conditional_adversaries", bool)):
        settings[key] = kind(settings[key])
    return settings
