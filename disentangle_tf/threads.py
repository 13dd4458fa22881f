"""Former path of :mod:`disentangle_tf.run.threads`; removed in the next release (import that one)."""

from .lazy import moved_module
from .run import threads

moved_module(__name__, threads)
