"""The package's fast paths, and the one switch that turns them all off.

With the switch on (the default) the package uses:

- :class:`~disentangle_tf.fast.batch_normalization.FusedBatchNormalization`, batch
  normalisation through TensorFlow's fused kernel, in the encoders and heads;
- :class:`~disentangle_tf.fast.optimizers.FusedAdam` and
  :class:`~disentangle_tf.fast.optimizers.FusedSGD`, Keras's Adam and SGD with each
  variable's update as one kernel, as ``compile``'s optimizers;
- the factored same-batch adversary updates
  (:mod:`~disentangle_tf.fast.factored_adversary_updates`);
- TensorFlow's CPU thread pools split between the tasks' encoders
  (:func:`~disentangle_tf.fast.threads.configure_threads`);
- TensorFlow's oneDNN CPU kernels, in the commands (:func:`~disentangle_tf.fast.onednn.prefer_onednn`).

Each computes what its plain counterpart computes, up to floating-point rounding
(``docs/performance.rst`` gives the speed-ups). Setting the environment variable
``DISENTANGLE_TF_FAST=0`` turns every one off: the plain Keras classes
(``keras.layers.BatchNormalization``, ``keras.optimizers.Adam`` / ``SGD``), the plain
adversary updates and TensorFlow's own thread and oneDNN defaults. The switch is read
when a model is built or compiled, when a run sizes its thread pools, and (for oneDNN)
when a command starts. This module loads no TensorFlow.
"""

from __future__ import annotations

import os

from ..lazy import lazy_exports

#: The environment variable of the switch: ``0`` (or ``false``, ``off``, ``no``) turns
#: the fast paths off; anything else, or no value, leaves them on.
SWITCH = "DISENTANGLE_TF_FAST"

_OFF = ("0", "false", "off", "no")


def enabled() -> bool:
    """Whether the fast paths are on (:data:`SWITCH` is not set to ``0``)."""
    return os.environ.get(SWITCH, "1").strip().lower() not in _OFF


_PUBLIC = {
    "FusedBatchNormalization": "batch_normalization",
    "batch_normalization": "batch_normalization",
    "FusedAdam": "optimizers",
    "FusedSGD": "optimizers",
    "adam": "optimizers",
    "sgd": "optimizers",
    "configure_threads": "threads",
}

__all__ = ["SWITCH", "enabled", *sorted(_PUBLIC)]

__getattr__, __dir__ = lazy_exports(__name__, _PUBLIC, globals())
