"""TensorFlow's CPU thread pools, sized for the model's parallel encoders.

A :class:`~disentangle_tf.models.Disentangler` with ``n`` tasks runs ``n`` encoders
(and their heads and adversaries) that do not depend on each other. TensorFlow's
default gives every op all the cores (intra-op threads) and runs up to one op per core
at once (inter-op threads), so the encoders' ops compete for the same threads. Splitting
the cores between the encoders instead (intra-op ``cores // n``, inter-op ``n``) ran
the training step of the two-task model 1.08-1.16x faster at 32x40 on a two-core
machine, and gave a one-task model no gain (0.996x and 1.09x as long;
``docs/performance.rst``); so one task keeps TensorFlow's defaults.

The pools can only be sized before TensorFlow runs its first op: once per process, and
then they stay as they are for the rest of it (nothing can restore TensorFlow's defaults).
"""

from __future__ import annotations

from ..cpus import available_cpus
from . import enabled

#: The settings of :func:`configure_threads` (the run's ``threads`` option).
THREADS = ("auto", "tensorflow")


def split_threads(parallel_branches: int, cpus: int) -> tuple[int, int] | None:
    """``(intra_op, inter_op)`` threads for ``parallel_branches`` independent branches.

    None for one branch (TensorFlow's defaults are the better choice then).
    """
    if parallel_branches <= 1:
        return None
    return max(1, cpus // parallel_branches), parallel_branches


def configure_threads(setting: str, parallel_branches: int) -> tuple[int, int] | None:
    """Size TensorFlow's thread pools for a model with ``parallel_branches`` encoders.

    Args:
        setting: ``"auto"``: on a machine without a GPU, split the cores between the
            branches (:func:`split_threads`); ``"tensorflow"``: keep TensorFlow's
            defaults.
        parallel_branches: encoders that can run at the same time (the tasks).

    Returns:
        The ``(intra_op, inter_op)`` threads set, or None if TensorFlow's settings were
        kept: ``"tensorflow"``, the fast paths off, one branch, a GPU, or TensorFlow already running ops
        (its pools are fixed by then).

    Raises:
        ValueError: for an unknown ``setting``.
    """
    if setting not in THREADS:
        raise ValueError(f"threads must be one of {', '.join(THREADS)}; got {setting!r}")
    if setting == "tensorflow" or not enabled():
        return None
    import tensorflow as tf

    threads = split_threads(parallel_branches, available_cpus())
    if threads is None or tf.config.list_physical_devices("GPU"):
        return None
    intra_op, inter_op = threads
    try:
        tf.config.threading.set_intra_op_parallelism_threads(intra_op)
        tf.config.threading.set_inter_op_parallelism_threads(inter_op)
    except RuntimeError:  # TensorFlow has started: its pools stay as they are
        return None
    return threads
