"""Former path of :mod:`disentangle_tf.run.distribution`; removed in the next release (import that one)."""

from .lazy import moved_module
from .run import distribution

moved_module(__name__, distribution)
