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
        ValueError: for an unknown name, or ``"multi-worker"`` without a valid ``TF_CONFIG``
            (:func:`check_tf_config`).
    """
    if name == "multi-worker":
        if "TF_CONFIG" not in os.environ:
            raise ValueError("strategy multi-worker needs the TF_CONFIG environment variable (cluster and task)")
        check_tf_config(os.environ["TF_CONFIG"])
    import tensorflow as tf  # loaded once the command's input is checked
    if name == "one-device":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        if devices is None:
            gpus = tf.config.list_logical_devices("GPU")
            devices = [d.name for d in (gpus or tf.config.list_logical_devices("CPU"))]
        return tf.distribute.MirroredStrategy(devices=devices)
    if name == "multi-worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(f"strategy must be one of {', '.join(STRATEGIES)}; got {name!r}")


def check_tf_config(text: str) -> None:
    """Check the ``TF_CONFIG`` of a multi-worker run, as TensorFlow's cluster resolver reads
    it (https://www.tensorflow.org/guide/distributed_training#setting_up_the_tf_config_environment_variable):
    a JSON object whose ``cluster`` maps job names (``worker``, ``chief``) to lists of
    ``host:port`` addresses and whose ``task`` names this process's ``type`` (a job of the
    cluster) and ``index`` (in that job's list).

    Raises:
        ValueError: one line beginning ``TF_CONFIG:`` saying what is wrong.
    """
    import json

    try:
        config = json.loads(text)
    except ValueError as error:
        raise ValueError(f"TF_CONFIG: not JSON ({error}); expected {{\"cluster\": ..., \"task\": ...}}") from None
    cluster = config.get("cluster") if isinstance(config, dict) else None
    if not isinstance(cluster, dict) or not cluster or not all(
            isinstance(hosts, list) and hosts for hosts in cluster.values()):
        raise ValueError("TF_CONFIG: expected a \"cluster\" object mapping each job (worker, chief) to a list of "
                         "host:port addresses")
    task = config.get("task")
    if not isinstance(task, dict) or task.get("type") not in cluster:
        raise ValueError(f"TF_CONFIG: expected a \"task\" object whose type is a job of the cluster "
                         f"({', '.join(cluster)}); got {task!r}")
    index, hosts = task.get("index", 0), cluster[task["type"]]
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(hosts):
        raise ValueError(f"TF_CONFIG: task index {index!r} is not one of the {len(hosts)} "
                         f"{task['type']} address{'es' * (len(hosts) != 1)} (0 to {len(hosts) - 1})")
