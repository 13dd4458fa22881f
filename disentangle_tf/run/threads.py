"""The thread pools of TensorFlow's CPU ops: :mod:`disentangle_tf.fast.threads`, importable from here."""

from ..fast.threads import THREADS, available_cpus, configure_threads, split_threads

__all__ = ["THREADS", "available_cpus", "configure_threads", "split_threads"]
