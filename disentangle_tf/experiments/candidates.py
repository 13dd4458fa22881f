"""Rows a pre-registered comparison runs to test a candidate before it becomes a method.

A candidate is a change to a method that the recorded results suggest but do not show. It
is written here, as the rows that test it, and run by ``python -m disentangle_tf.reproduce
--methods NAME`` like a row of :data:`~disentangle_tf.experiments.former_methods.FORMER_METHODS`
(:func:`~disentangle_tf.experiments.reproduce.resolve_methods`); ``train --method`` does not
offer it. Where its comparison supports it, it moves to
:data:`~disentangle_tf.models.methods.METHODS`; where not, it stays here as the rows that
were run, so that the commands printed with its table run as printed.

Training length chosen on validation (``experiments/protocols/generalisation-5.md``): at
the default 15 epochs every row of the comparisons is under-trained on ``us-sim`` and
``digits-shadow`` (docs/generalisation.rst, "Training length"), and the validation split
prefers 45 epochs in 11 of 12 diagnosis pairs. The ``long`` rows train up to 45 epochs and
keep the epoch of the best mean validation accuracy
(:class:`~disentangle_tf.run.callbacks.RestoreBestValidation`): the length is chosen on the
training data's own validation split, for the reference as for the candidate. ``selected
long`` chooses between the two points of :data:`~disentangle_tf.models.methods.SELECTION_GRID`
that held-out-combination validation chose on 26 of the 27 seeds of the first and third
comparisons (weight 0; weight 2 on the block maps), which halves the selection's cost.

Mixup of the training batches (``experiments/protocols/generalisation-6.md``): every
penalty of the recommended family trades seen accuracy for the unseen combination, on the
digits as on ``us-sim``; on the pilot seeds of ``digits-shadow`` mixup
(:mod:`disentangle_tf.data.mixing`) raised both. The ``mixup`` rows are
``lambda=0 precise-bn`` with it, partners drawn from the whole batch or from the other
combinations of labels.
"""

from __future__ import annotations

from ..run.methods import PRECISE_BN, RECOMMENDED, SELECTION_GRID, Method, over_neutral

#: Up to 45 epochs, the epoch of the best mean validation accuracy kept.
LONG = {"epochs": 45, "restore_best_weights": True}

#: The points ``selected long`` chooses between: weight 0, and weight 2 on the block maps.
LONG_GRID = (SELECTION_GRID[0], SELECTION_GRID[2])

#: Mixup as the ``mixup`` rows train it: any partner at alpha 0.4, and a partner of another
#: combination of labels at alpha 1 (mixing weights uniform in [0, 1]).
MIXUP = {"mixup": 0.4, "mixup_partners": "any"}
MIXUP_ACROSS = {"mixup": 1.0, "mixup_partners": "other_combination"}

#: The rows by name.
CANDIDATE_METHODS: dict[str, Method] = {
    m.name: m
    for m in [
        over_neutral("lambda=0 precise-bn long", {**PRECISE_BN, **LONG},
                     "'lambda=0 precise-bn' trained up to 45 epochs, the epoch of the best mean validation "
                     "accuracy kept"),
        over_neutral("selected long", {**RECOMMENDED, **LONG},
                     "the recommended setting with weight 0 or weight 2 on the block maps, chosen by "
                     "held-out-combination validation, every training up to 45 epochs with the epoch of the "
                     "best mean validation accuracy kept",
                     points=LONG_GRID, selection="held-out-combination"),
        over_neutral("oracle long", {**PRECISE_BN, **LONG},
                     "'oracle' (the unseen combination added to training: a ceiling) trained up to 45 epochs, "
                     "the epoch of the best mean validation accuracy kept", oracle=True),
        over_neutral("lambda=0 mixup", {**PRECISE_BN, **MIXUP},
                     "'lambda=0 precise-bn' with mixup of every training batch (alpha 0.4, any partner)"),
        over_neutral("lambda=0 mixup across", {**PRECISE_BN, **MIXUP_ACROSS},
                     "'lambda=0 precise-bn' with mixup of every training batch, each image's partner of another "
                     "combination of labels (alpha 1)"),
    ]
}
