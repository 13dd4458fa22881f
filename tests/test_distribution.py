"""tf.distribute on CPU: mirrored replicas and two workers on localhost."""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

HERE = os.path.dirname(__file__)

MIRRORED_SCRIPT = r"""
import json, sys
import numpy as np
import tensorflow as tf
logical_cpus, adversary_batches = int(sys.argv[2]), sys.argv[3]
if logical_cpus > 1:
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * logical_cpus)
import keras
sys.path.insert(0, sys.argv[1])
from conftest import build_random_data, build_tiny_model
from disentangle_tf.data import make_training_dataset
from disentangle_tf.run.distribution import make_strategy

def train(strategy):
    with strategy.scope():
        model = build_tiny_model(("a", "b"), seed=0, synchronized_batch_norm=True)
        model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9),
                      adversary_optimizer=keras.optimizers.SGD(0.05, momentum=0.9),
                      adversarial_weight=0.5, adversary_steps=2, adversary_batches=adversary_batches)
    data = build_random_data(("a", "b"), count=16, seed=1)
    dataset = make_training_dataset(data, batch_size=8, adversary_steps=2, flip=True, seed=3,
                                    device=None, epochs=1)
    history = model.fit(dataset, epochs=1, steps_per_epoch=2, verbose=0)
    return model, history.history

one, one_history = train(tf.distribute.get_strategy())
mirrored_strategy = make_strategy("mirrored")
two, two_history = train(mirrored_strategy)
weights = max(float(np.max(np.abs(a.numpy() - b.numpy()))) for a, b in zip(one.weights, two.weights))
moved = max(float(np.max(np.abs(a.numpy()))) for a in one.adversary_variables)
print(json.dumps({
    "replicas": mirrored_strategy.num_replicas_in_sync,
    "max_weight_difference": weights,
    "one": {k: v[-1] for k, v in one_history.items()},
    "two": {k: v[-1] for k, v in two_history.items()},
    "adversary_iterations": int(two.adversary_optimizer.iterations.numpy()),
}))
"""


def run_python(args, env=None, timeout=600):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})}
    return subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=timeout)


@pytest.mark.slow
@pytest.mark.parametrize(
    "logical_cpus, adversary_batches",
    [
        (2, "fresh"),
        # One replica (one GPU, or a CPU-only machine) is still a mirrored strategy: its
        # optimizer updates cannot run in the adversary loop, on fresh or on the same batches.
        (1, "fresh"),
        (1, "same"),
    ],
)
def test_mirrored_matches_one_device(logical_cpus, adversary_batches):
    result = run_python(["-c", MIRRORED_SCRIPT, HERE, logical_cpus, adversary_batches])
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["replicas"] == logical_cpus
    assert report["adversary_iterations"] == 2 * 2
    assert report["max_weight_difference"] < 1e-4, report
    for name, value in report["one"].items():
        assert report["two"][name] == pytest.approx(value, rel=1e-4, abs=1e-5), name


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


TINY = {"epochs": 1, "image_size": [16, 20], "encoder_filters": [4, 8], "encoder_strides": [2, 2],
        "stem_filters": 4, "head_units": [8], "adversary_steps": 2, "batch_size": 40}


@pytest.mark.slow
def test_two_workers_on_localhost_end_with_the_same_weights(tmp_path):
    import keras

    config = tmp_path / "tiny.json"
    config.write_text(json.dumps(TINY))
    workers = [f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"]
    processes = []
    for index in range(2):
        tf_config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "TF_CONFIG": json.dumps(tf_config)}
        processes.append(subprocess.Popen(
            [sys.executable, "-m", "disentangle_tf.train", "--strategy", "multi-worker", "--config", config,
             "--output-dir", tmp_path / f"worker{index}", "--quiet"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outputs = [p.communicate(timeout=900) for p in processes]
    for process, (_, stderr) in zip(processes, outputs):
        assert process.returncode == 0, stderr[-3000:]
    models = [keras.saving.load_model(tmp_path / f"worker{i}" / "model.keras") for i in range(2)]
    assert int(models[0].optimizer.iterations.numpy()) == 1200 // 40
    for a, b in zip(models[0].weights, models[1].weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-6)
    metrics = [json.loads((tmp_path / f"worker{i}" / "metrics.json").read_text()) for i in range(2)]
    assert metrics[0] == metrics[1]


def test_replicated_strategy_active_whatever_the_number_of_replicas():
    import tensorflow as tf

    from disentangle_tf.replicas import replicated_strategy_active

    assert not replicated_strategy_active()  # the default strategy
    with tf.distribute.OneDeviceStrategy("/cpu:0").scope():
        assert not replicated_strategy_active()
    mirrored = tf.distribute.MirroredStrategy(["/cpu:0"])
    assert mirrored.num_replicas_in_sync == 1
    with mirrored.scope():
        assert replicated_strategy_active()
    # Inside a replica's step, where the training step runs.
    assert bool(mirrored.run(lambda: tf.constant(replicated_strategy_active())))


@pytest.mark.parametrize("text,fragment", [
    ("not json", "TF_CONFIG: not JSON"),
    ("[1, 2]", "expected a \"cluster\" object"),
    (json.dumps({"cluster": {"worker": []}, "task": {"type": "worker", "index": 0}}), "expected a \"cluster\""),
    (json.dumps({"cluster": {"worker": ["a:1"]}}), "expected a \"task\" object whose type is a job of the cluster"),
    (json.dumps({"cluster": {"worker": ["a:1"]}, "task": {"type": "chief", "index": 0}}), "(worker); got"),
    (json.dumps({"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 2}}),
     "task index 2 is not one of the 2 worker addresses (0 to 1)"),
    (json.dumps({"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": "0"}}), "task index '0'"),
])
def test_a_bad_tf_config_is_refused_in_one_line_before_tensorflow_reads_it(text, fragment, monkeypatch):
    from disentangle_tf.run.distribution import check_tf_config, make_strategy

    with pytest.raises(ValueError) as info:
        check_tf_config(text)
    assert str(info.value).startswith("TF_CONFIG: ") and fragment in str(info.value), str(info.value)
    assert "\n" not in str(info.value)
    monkeypatch.setenv("TF_CONFIG", text)
    with pytest.raises(ValueError, match="^TF_CONFIG: "):
        make_strategy("multi-worker")


def test_the_tf_config_of_two_local_workers_is_accepted():
    from disentangle_tf.run.distribution import check_tf_config

    for index in (0, 1):
        check_tf_config(json.dumps({"cluster": {"worker": ["127.0.0.1:1", "127.0.0.1:2"]},
                                    "task": {"type": "worker", "index": index}}))
    check_tf_config(json.dumps({"cluster": {"chief": ["h:1"], "worker": ["h:2"]}, "task": {"type": "chief"}}))
