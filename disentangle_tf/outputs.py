"""Former path of :mod:`disentangle_tf.run.outputs`; removed in the next release (import that one)."""

from .lazy import moved_module
from .run import outputs

moved_module(__name__, outputs)
