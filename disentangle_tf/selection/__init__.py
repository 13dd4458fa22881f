"""Model selection from a user's own training data.

A user's data have no images of the combination of labels the model will meet
unseen, so a setting cannot be chosen on it. :mod:`~disentangle_tf.selection.combinations` finds combinations
of labels that *are* in the training split and can stand in for the missing one
(held-out-combination validation); :mod:`~disentangle_tf.selection.held_out` trains without each of them and
scores the relevant task on its images; :mod:`~disentangle_tf.selection.grid` chooses among a small grid of
settings with that score.
"""

from .combinations import (Combination, absent_combinations, eligible_combinations, relevant_task_of,
                           training_combinations, without_combination)

__all__ = [
    "Combination",
    "absent_combinations",
    "eligible_combinations",
    "relevant_task_of",
    "training_combinations",
    "without_combination",
]
