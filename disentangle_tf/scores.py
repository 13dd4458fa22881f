"""Former path of :mod:`disentangle_tf.evaluation.scores`; removed in the next release (import that one)."""

from .evaluation import scores
from .lazy import moved_module

moved_module(__name__, scores)
