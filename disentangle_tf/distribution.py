"""tf.distribute strategies by name (one device, mirrored, multi-worker), and what they allow."""

from __future__ import annotations

import json
import os

import tensorflow as tf

STRATEGIES = ("one-device", "mirrored", "multi-worker")


def make_strategy(name: str, devices=None) -> tf.distribute.Strategy:
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


def replicated_strategy_active() -> bool:
    """Whether the code runs under a strategy that synchronises replicas' updates.

    True under any strategy other than TensorFlow's default one and
    ``OneDeviceStrategy`` (``MirroredStrategy``, ``MultiWorkerMirroredStrategy``, ...),
    whatever its number of replicas: one GPU, or one CPU, under ``MirroredStrategy`` is
    still such a strategy. There an optimizer's ``apply_gradients`` goes through the
    replica context's ``merge_call``, which cannot run inside a ``tf.while_loop`` or a
    nested ``tf.function`` (``RuntimeError: merge_call called while defining a new
    graph``): loops of optimizer updates must be unrolled.
    """
    if not tf.distribute.has_strategy():
        return False
    return not isinstance(tf.distribute.get_strategy(), tf.distribute.OneDeviceStrategy)


def worker_index() -> int:
    """This process's index in a multi-worker cluster (0 when not in one)."""
    config = json.loads(os.environ.get("TF_CONFIG", "{}") or "{}")
    return int(config.get("task", {}).get("index", 0))
