"""Former path of :mod:`disentangle_tf.run.console`; removed in the next release (import that one)."""

from .lazy import moved_module
from .run import console

moved_module(__name__, console)
