"""Former path of :mod:`disentangle_tf.run.methods`; removed in the next release (import that one)."""

from .lazy import moved_module
from .run import methods

moved_module(__name__, methods)
