"""Former path of :mod:`disentangle_tf.evaluation.plots`; removed in the next release (import that one)."""

from .evaluation import plots
from .lazy import moved_module

moved_module(__name__, plots)
