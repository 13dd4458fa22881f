"""Former path of :mod:`disentangle_tf.evaluation.probes`; removed in the next release (import that one)."""

from .evaluation import probes
from .lazy import moved_module

moved_module(__name__, probes)
