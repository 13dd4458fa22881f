"""A killed run resumes from its backup; a diverging run stops and keeps what it had."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

TINY = {"image_size": [16, 20], "encoder_filters": [4, 8], "encoder_strides": [2, 2],
        "stem_filters": 4, "head_units": [8], "adversary_steps": 2, "batch_size": 100,
        "deterministic": True, "seed": 5}


def train_command(config, out, epochs):
    return [sys.executable, "-m", "disentangle_tf.train", "--config", config, "--epochs", str(epochs),
            "--output-dir", out, "--quiet"]


def test_killed_run_resumes_and_ends_as_an_uninterrupted_one(tmp_path):
    config = tmp_path / "tiny.json"
    config.write_text(json.dumps(TINY))
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    epochs = 6

    # Uninterrupted reference.
    reference = subprocess.run(train_command(config, tmp_path / "reference", epochs), env=env,
                               capture_output=True, text=True, timeout=900)
    assert reference.returncode == 0, reference.stderr[-2000:]

    # The same run, killed with SIGKILL once its second epoch is backed up.
    out = tmp_path / "killed"
    process = subprocess.Popen(train_command(config, out, epochs), env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    metadata = out / "backup" / "training_metadata.json"
    deadline = time.time() + 600
    while time.time() < deadline and process.poll() is None:
        if metadata.is_file() and json.loads(metadata.read_text() or "{}").get("epoch", 0) >= 2:
            break
        time.sleep(0.05)
    assert process.poll() is None, "the run finished before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait()
    backed_up = json.loads(metadata.read_text())["epoch"]
    assert 2 <= backed_up < epochs and not (out / "metrics.json").exists()

    # Restarted with the same command: resumes, finishes, removes the backup.
    resumed = subprocess.run(train_command(config, out, epochs), env=env, capture_output=True,
                             text=True, timeout=900)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resuming the interrupted run" in resumed.stdout
    assert not (out / "backup").exists()
    assert json.loads((out / "metrics.json").read_text()) == json.loads(
        (tmp_path / "reference" / "metrics.json").read_text())


def test_changed_options_do_not_resume_a_foreign_backup(tmp_path):
    out = tmp_path / "run"
    (out / "backup").mkdir(parents=True)
    (out / "config.json").write_text("{}")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run([sys.executable, "-m", "disentangle_tf.train", "--output-dir", out],
                            env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2
    assert "interrupted run with another configuration" in result.stderr
    assert (out / "config.json").read_text() == "{}"


def test_non_finite_loss_stops_training_and_keeps_the_last_good_backup(tmp_path):
    import keras

    from disentangle_tf.config import RunConfig
    from disentangle_tf.data.registry import load_dataset
    from disentangle_tf.errors import TrainingDiverged
    from disentangle_tf.training import build_model, run

    class Poison(keras.callbacks.Callback):
        """Turns one encoder weight into NaN when the third epoch starts."""

        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 2:
                self.good = [w.numpy().copy() for w in self.model.encoders[0].weights]
                kernel = self.model.encoders[0].trainable_variables[0]
                kernel.assign(np.full(kernel.shape, np.nan, np.float32))

    poison = Poison()
    config = RunConfig().replace({**TINY, "deterministic": False, "epochs": 4})
    out = tmp_path / "run"
    with pytest.raises(TrainingDiverged, match=r"encoder_loss became nan at epoch 3") as info:
        run(config, output_dir=out, verbose=0, callbacks=[poison])
    assert str(out / "backup") in str(info.value)
    metadata = json.loads((out / "backup" / "training_metadata.json").read_text())
    assert metadata["epoch"] == 2  # the backup of the last good epoch is kept
    # The backup holds weights: read them into a new model of the same configuration.
    data = load_dataset(config.data)
    model = build_model(config, data.tasks)
    model.load_weights(out / "backup" / "latest.weights.h5")
    for saved, good in zip(model.encoders[0].weights, poison.good):
        assert np.all(np.isfinite(saved.numpy()))
        np.testing.assert_array_equal(saved.numpy(), good)
    assert (out / "logs" / "train").is_dir()
    assert not (out / "metrics.json").exists()
