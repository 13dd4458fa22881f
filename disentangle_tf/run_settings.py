"""Former path of :mod:`disentangle_tf.run.run_settings`; removed in the next release (import that one)."""

from .lazy import moved_module
from .run import run_settings

moved_module(__name__, run_settings)
