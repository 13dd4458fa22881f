"""Former path of :mod:`disentangle_tf.run.summaries`; removed in the next release (import that one)."""

from .lazy import moved_module
from .run import summaries

moved_module(__name__, summaries)
