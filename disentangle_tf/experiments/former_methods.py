"""Rows of the recorded comparisons that are no method to choose, under the names their results carry.

The comparisons in ``experiments/results/synthetic`` and
``experiments/results/us-sim-table2`` (docs/reproduction.rst, docs/ultrasound.rst) hold
rows that measured what the recommended setting was before (the penalty on the blocks'
global averages rather than on their maps) and what each of its parts is worth (no
last-layer refit, 25 epochs instead of 15). A user chooses among the methods of
:data:`~disentangle_tf.models.methods.METHODS`, which ``python -m disentangle_tf.train
--method`` and ``Disentangler.compile(method=...)`` offer; these rows are not among them.
``python -m disentangle_tf.reproduce --methods NAME`` still runs each: it looks a name up
in ``METHODS`` first, then in :data:`FORMER_METHODS`
(:func:`~disentangle_tf.experiments.reproduce.resolve_methods`), and trains a row of
either table the same way, so that the commands printed with the recorded tables run as
printed and reproduce them.

The settings are written out here as they were when the results were recorded, not
derived from today's recommended setting, so that a later change to that setting leaves
these rows as they ran; every key a method decides that is not written out takes its
neutral value (:data:`~disentangle_tf.models.methods.NEUTRAL`), as for every method.
"""

from __future__ import annotations

import shlex

from ..run.methods import Method, over_neutral

#: The recommended setting of before: the class-conditional penalty (weight 10) on the
#: features and each residual block's global average, group-balanced batches, batch-norm
#: statistics recomputed over 30 batches, then the last layers refitted.
_BLOCKS = {"independence_weight": 10.0, "independence_layers": "blocks", "sampling": "group_balanced",
           "precise_batch_norm": 30, "last_layer_retraining": True}

#: Today's recommended setting, as ``block maps without retraining`` was run: the penalty also
#: on each block's output map on a 2 x 2 grid of cells.
_BLOCK_MAPS = {**_BLOCKS, "independence_layers": "block_maps"}


#: The rows by name, in the order of the recorded tables.
FORMER_METHODS: dict[str, Method] = {
    m.name: m
    for m in [
        over_neutral("blocks retrained", _BLOCKS,
                     "the recommended setting with the penalty on the blocks' global averages only (no grid cells)"),
        over_neutral("blocks retrained 25 epochs", {**_BLOCKS, "epochs": 25},
                     "'blocks retrained' trained 25 epochs instead of 15"),
        over_neutral("blocks without retraining", {**_BLOCKS, "last_layer_retraining": False},
                     "'blocks retrained' with the classifiers as trained (no last-layer retraining)"),
        over_neutral("blocks without retraining 25 epochs", {**_BLOCKS, "last_layer_retraining": False, "epochs": 25},
                     "'blocks without retraining' trained 25 epochs instead of 15"),
        over_neutral("block maps without retraining", {**_BLOCK_MAPS, "last_layer_retraining": False},
                     "the recommended setting with the classifiers as trained (no last-layer retraining)"),
    ]
}

#: The data set of the comparisons these rows belong to (the synthetic shapes; ``blocks
#: retrained`` and ``blocks without retraining`` also ran on us-sim, docs/ultrasound.rst).
DATASET = "synthetic"


def reproduce_command(name: str) -> str:
    """The command line that trains the row ``name`` of :data:`FORMER_METHODS` (over seeds, scored)."""
    return f"python -m disentangle_tf.reproduce {DATASET} --methods {shlex.quote(name)} --output-dir DIR"


def former_row_message(name: str) -> str:
    """One line for a command or call that offers only the methods a user chooses, given the
    row ``name`` of :data:`FORMER_METHODS`: what it is, and the command that runs it."""
    return (f"{name!r} is a row of a recorded comparison (disentangle_tf.experiments.former_methods), not one of "
            f"the methods to choose from; {reproduce_command(name)} runs it")
