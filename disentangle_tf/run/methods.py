"""Named methods: the settings that make each row of a comparison, as data.

The table is :mod:`disentangle_tf.models.methods`, beside the model that reads it
(``Disentangler.compile(method="recommended")``); this module is where the run layer,
the commands and the experiments take it from, under the same names.
``python -m disentangle_tf.train --method NAME`` trains one;
``python -m disentangle_tf.reproduce --methods NAME,...`` compares several over seeds.
"""

from __future__ import annotations

from typing import Mapping

from ..models.methods import (GRID_KEYS, METHODS, MODEL_KEYS, NEUTRAL, PRECISE_BN, RECOMMENDED, SELECTION_GRID,
                              SELECTION_KEYS, Method, get_method, over_neutral)

__all__ = ["GRID_KEYS", "METHODS", "NEUTRAL", "PRECISE_BN", "RECOMMENDED", "SELECTION_GRID", "SELECTION_KEYS",
           "Method", "get_method", "method_of_run", "over_neutral"]


def method_of_run(name: str, settings: Mapping) -> tuple[Method, dict]:
    """What a run's model records of the method it was trained with (``compile(method=...)``).

    Args:
        name: the method's name (``--method``); a name outside :data:`METHODS` is
            recorded with no description, its settings laid over :data:`NEUTRAL`.
        settings: the run's configuration as a flat mapping
            (:meth:`~disentangle_tf.run.config.RunConfig.to_flat_dict`).

    Returns:
        ``(method, overrides)``: a :class:`Method` called ``name`` whose settings are the
        run's values of :data:`~disentangle_tf.models.methods.MODEL_KEYS` (the part of a
        method a model's compile and fit carry out; a whole run's other parts, an
        ensemble or Just Train Twice's second training, stay in the run's
        ``config.json``), and the compile arguments, among them, whose value is not the
        named method's (a ``--set`` or a grid's chosen point).
    """
    named = METHODS.get(name)
    base = {**NEUTRAL, **(named.settings if named is not None else {})}
    values = {key: settings[key] for key in MODEL_KEYS}
    overrides = {key: value for key, value in values.items()
                 if key != "conditional_adversaries" and base.get(key) != value}
    return Method(name, values, named.description if named is not None else ""), overrides
