"""Former path of :mod:`disentangle_tf.evaluation.forward`; removed in the next release (import that one)."""

from .evaluation import forward
from .lazy import moved_module

moved_module(__name__, forward)
