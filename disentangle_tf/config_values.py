"""Former path of :mod:`disentangle_tf.run.config_values`; removed in the next release (import that one)."""

from .lazy import moved_module
from .run import config_values

moved_module(__name__, config_values)
