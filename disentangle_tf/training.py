"""Former path of :mod:`disentangle_tf.run.training`; removed in the next release (import that one)."""

from .lazy import moved_module
from .run import training

moved_module(__name__, training)
