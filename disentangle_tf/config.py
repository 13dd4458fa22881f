"""Former path of :mod:`disentangle_tf.run.config`; removed in the next release (import that one)."""

from .lazy import moved_module
from .run import config

moved_module(__name__, config)
