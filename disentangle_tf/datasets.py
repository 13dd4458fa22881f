"""Former path of :mod:`disentangle_tf.run.datasets`; removed in the next release (import that one)."""

from .lazy import moved_module
from .run import datasets

moved_module(__name__, datasets)
