"""TensorFlow's oneDNN CPU kernels, asked for by the package's commands when the fast paths are on.

TensorFlow turns its oneDNN CPU kernels on by default only on CPUs with AVX-512 and
newer instructions. On an AVX2 CPU, turning them off made the training step 1.73x
slower and the float32 matmul about 1.4x slower (``docs/performance.rst``).
"""

from __future__ import annotations

import os

from . import enabled

#: TensorFlow's environment variable of the kernels, read when TensorFlow loads.
ONEDNN_VARIABLE = "TF_ENABLE_ONEDNN_OPTS"


def prefer_onednn() -> None:
    """Ask for oneDNN's kernels (``TF_ENABLE_ONEDNN_OPTS=1``) if the fast paths are on.

    Takes effect only if TensorFlow is not imported yet; a value the user set
    (``TF_ENABLE_ONEDNN_OPTS=0`` turns the kernels off) is kept, and with the fast
    paths off TensorFlow's own default stands. The commands call it as they start
    (:func:`~disentangle_tf.cli.common.command_environment`); importing the package
    does not, so a Python program that wants the kernels calls it (or sets the
    variable) before it imports TensorFlow or Keras.
    """
    if enabled():
        os.environ.setdefault(ONEDNN_VARIABLE, "1")
