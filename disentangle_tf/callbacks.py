"""Former path of :mod:`disentangle_tf.run.callbacks`; removed in the next release (import that one)."""

from .lazy import moved_module
from .run import callbacks

moved_module(__name__, callbacks)
