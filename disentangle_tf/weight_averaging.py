"""Former path of :mod:`disentangle_tf.run.weight_averaging`; removed in the next release (import that one)."""

from .lazy import moved_module
from .run import weight_averaging

moved_module(__name__, weight_averaging)
