"""Thread pools split between the tasks' encoders."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from disentangle_tf.fast.threads import configure_threads, split_threads


@pytest.mark.parametrize("branches, cpus, expected", [
    (1, 2, None), (2, 2, (1, 2)), (2, 1, (1, 2)), (3, 8, (2, 3)), (2, 16, (8, 2)),
])
def test_split_threads_divides_the_cores_between_branches(branches, cpus, expected):
    assert split_threads(branches, cpus) == expected


def test_unknown_setting_is_rejected():
    with pytest.raises(ValueError, match="threads must be one of auto, tensorflow; got 'many'"):
        configure_threads("many", 2)


FRESH_PROCESS = """
import json
import disentangle_tf
import tensorflow as tf
from disentangle_tf.fast.threads import available_cpus, configure_threads
tensorflow_setting = configure_threads("tensorflow", 2)
applied = configure_threads("auto", 2)
pools = [tf.config.threading.get_intra_op_parallelism_threads(),
         tf.config.threading.get_inter_op_parallelism_threads()]
tf.constant(1.0) + 1.0  # the runtime starts: its pools are fixed from here on
late = configure_threads("auto", 3)
after = [tf.config.threading.get_intra_op_parallelism_threads(),
         tf.config.threading.get_inter_op_parallelism_threads()]
print(json.dumps({"cpus": available_cpus(), "tensorflow": tensorflow_setting, "applied": applied,
                  "pools": pools, "late": late, "after": after}))
"""


def test_auto_sizes_the_pools_before_tensorflow_starts_and_leaves_them_after():
    completed = subprocess.run([sys.executable, "-c", FRESH_PROCESS], capture_output=True, text=True,
                               check=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    expected = split_threads(2, result["cpus"])
    assert result["tensorflow"] is None
    assert result["applied"] == list(expected)
    assert result["pools"] == list(expected)
    assert result["late"] is None  # too late: nothing raised, nothing changed
    assert result["after"] == list(expected)
