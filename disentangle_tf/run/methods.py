"""Named methods: the settings that make each row of a comparison, as data.

The table is :mod:`disentangle_tf.models.methods`, beside the model that reads it
(``Disentangler.compile(method="recommended")``); this module is where the run layer,
the commands and the experiments take it from, under the same names.
``python -m disentangle_tf.train --method NAME`` trains one;
``python -m disentangle_tf.reproduce --methods NAME,...`` compares several over seeds.
"""

from __future__ import annotations

from ..models.methods import (GRID_KEYS, METHODS, NEUTRAL, RECOMMENDED, SELECTION_GRID, SELECTION_KEYS, Method,
                              get_method)

__all__ = ["GRID_KEYS", "METHODS", "NEUTRAL", "RECOMMENDED", "SELECTION_GRID", "SELECTION_KEYS", "Method",
           "get_method"]
