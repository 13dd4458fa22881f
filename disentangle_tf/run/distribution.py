"""tf.distribute strategies by name (one device, mirrored, multi-worker).

TensorFlow is imported when a strategy is made, so that the names can be read (by the
run configuration) before it loads.
"""

from __future__ import annotations

import os

STRATEGIES = ("one-device", "mirrored", "multi-worker")


def make_strategy(name: str, devices=None):
    """The distribution strategy called ``name``.

    Args:
        name: ``"one-device"``: TensorFlow's default strategy (the first GPU if there
            is one, else the CPU). ``"mirrored"``: ``MirroredStrategy`` over
            ``devices``, by default every local GPU, or every logical CPU device when
            there is no GPU. ``"multi-worker"``: ``MultiWorkerMirroredStrategy``; the
            cluster comes from the ``TF_CONFIG`` environment variable.
        devices: device names for ``"mirrored"``.

    Raises:
        ValueError: for an unknown name, or ``"multi-worker"`` without ``TF_CONFIG``.
    """
    import tensorflow as tf  # loaded once the command's input is checked
    if name == "one-device":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        if devices is None:
            gpus = tf.config.list_logical_devices("GPU")
            devices = [d.name for d in (gpus or tf.config.list_logical_devices("CPU"))]
        return tf.distribute.MirroredStrategy(devices=devices)
    if name == "multi-worker":
        if "TF_CONFIG" not in os.environ:
            raise ValueError("strategy multi-worker needs the TF_CONFIG environment variable (cluster and task)")
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(f"strategy must be one of {', '.join(STRATEGIES)}; got {name!r}")
