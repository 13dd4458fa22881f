"""Former path of :mod:`disentangle_tf.run.backup`; removed in the next release (import that one)."""

from .lazy import moved_module
from .run import backup

moved_module(__name__, backup)
