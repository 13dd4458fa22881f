"""A killed run resumes from its backup; a diverging run stops and keeps what it had;
a backup is never damaged by a kill and never loaded into a model of other data."""

import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import RESULTS_ONLY, TINY_METHOD, build_random_data, eager_compiles

TINY = {"image_size": [16, 20], "encoder_filters": [4, 8], "encoder_strides": [2, 2],
        "stem_filters": 4, "head_units": [8], "adversary_steps": 1, "batch_size": 4,
        "deterministic": True, "seed": 5, **TINY_METHOD, **RESULTS_ONLY}

CLASS_NAMES = {"a": ("x", "y"), "b": ("p", "q", "r")}


def tiny_splits(class_names=CLASS_NAMES, relabel=None):
    """16 training and 8 validation images of 16 x 20; ``relabel`` edits the training labels."""
    from disentangle_tf.data.labelled_images import LabelledImages
    from disentangle_tf.data.dataset_splits import DatasetSplits
    from disentangle_tf.task_spec import TaskSpec

    tasks = [TaskSpec(name, len(names), class_names=names) for name, names in class_names.items()]
    specs = [(t.name, t.num_classes) for t in tasks]
    train = build_random_data(specs, count=16, image_shape=(16, 20, 1), seed=1)
    labels = {task: np.array(values) for task, values in train.labels.items()}
    if relabel is not None:
        relabel(labels)
    train = LabelledImages(train.images, labels)
    val = build_random_data(specs, count=8, image_shape=(16, 20, 1), seed=2)
    return DatasetSplits(tasks=tasks, train=train, validation=val, evaluation={"val": val})


def snapshot(directory: pathlib.Path) -> dict:
    return {p.relative_to(directory): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


class Interrupt(Exception):
    pass


def interrupted_run(out, data, after=2, epochs=4):
    """A run stopped by an exception when epoch ``after + 1`` starts (its backup holds ``after`` epochs)."""
    import keras

    from disentangle_tf.run.config import RunConfig
    from disentangle_tf.run.training import run

    class Stop(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == after:
                raise Interrupt()

    config = RunConfig().replace({**TINY, "epochs": epochs})
    with pytest.raises(Interrupt):
        run(config, output_dir=out, data=data, verbose=0, callbacks=[Stop()])
    return config


# A driver that trains like ``python -m disentangle_tf.train`` but, with SLOW_BACKUP set,
# rewrites the weights file of epoch 3's backup slowly in chunks (announcing it in a
# marker file first), so that a SIGKILL can land in the middle of the write.
DRIVER = '''
import os, pathlib, sys, time
import disentangle_tf.run.callbacks as callbacks
from disentangle_tf.cli.common import run_command
from disentangle_tf.cli.train import main

marker = os.environ.get("SLOW_BACKUP")
if marker:
    real_write = callbacks.write_checkpoint

    def slow_write(backup_dir, save_weights, epoch):
        def slow_save(path):
            save_weights(path)
            if epoch != 3:
                return
            data = pathlib.Path(path).read_bytes()
            with open(path, "wb") as file:
                pathlib.Path(marker).write_text(str(epoch))
                for start in range(0, len(data), len(data) // 20 + 1):
                    file.write(data[start:start + len(data) // 20 + 1])
                    file.flush()
                    time.sleep(0.1)
        real_write(backup_dir, slow_save, epoch)

    callbacks.write_checkpoint = slow_write
run_command(main, sys.argv[1:], prog_name="train")
'''


@pytest.mark.slow
def test_killed_during_the_backup_write_resumes_and_ends_as_an_uninterrupted_one(tmp_path):
    from disentangle_tf.data.hdf5 import write_hdf5

    write_hdf5(tmp_path / "tiny.h5", tiny_splits())
    config = tmp_path / "tiny.json"
    config.write_text(json.dumps({**TINY, "dataset": "hdf5", "data": str(tmp_path / "tiny.h5")}))
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.pop("SLOW_BACKUP", None)

    def command(out):
        return [sys.executable, str(driver), "--method", "paper", "--config", str(config), "--epochs", "4",
                "--output-dir", str(out), "--quiet"]

    reference = subprocess.run(command(tmp_path / "reference"), env=env, capture_output=True, text=True,
                               timeout=300)
    assert reference.returncode == 0, reference.stderr[-2000:]

    # Killed while the backup of epoch 3 is being written, at the latest on the third try.
    out, marker = tmp_path / "killed", tmp_path / "writing"
    backup = out / "backup"
    for attempt in range(3):
        marker.unlink(missing_ok=True)
        process = subprocess.Popen(command(out), env={**env, "SLOW_BACKUP": str(marker)},
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 240
        while time.time() < deadline and process.poll() is None:
            if marker.is_file() and marker.read_text() == "3":
                time.sleep(0.5)  # the write takes about 2 s
                break
            time.sleep(0.02)
        assert process.poll() is None, "the run finished before it could be killed"
        process.send_signal(signal.SIGKILL)
        process.wait()
        partial = backup / "partial.weights.h5"
        if partial.is_file() and partial.stat().st_size < (backup / "latest.weights.h5").stat().st_size:
            break  # the kill landed inside the write
    else:
        pytest.fail("the kill never landed inside the backup write")
    assert json.loads((backup / "training_metadata.json").read_text())["epoch"] == 2
    assert not (out / "metrics.json").exists()

    # The same command again: resumes after epoch 2, finishes, removes the backup.
    resumed = subprocess.run(command(out), env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resuming the interrupted run" in resumed.stdout and "after epoch 2" in resumed.stdout
    assert not backup.exists()
    assert json.loads((out / "metrics.json").read_text()) == json.loads(
        (tmp_path / "reference" / "metrics.json").read_text())


def test_resume_refuses_a_backup_made_for_other_data_and_keeps_it(tmp_path):
    from disentangle_tf.errors import BackupError
    from disentangle_tf.run.training import run

    out = tmp_path / "run"
    with eager_compiles():  # eight steps, fewer than it takes to trace them: the backup is the point
        config = interrupted_run(out, tiny_splits())
    kept = snapshot(out)

    def new_class(labels):
        labels["a"][:2] = 2

    changes = [
        (tiny_splits({"a": ("x", "y", "z"), "b": CLASS_NAMES["b"]}, relabel=new_class),
         "was made for task 'a' with 2 classes (x, y); the data now have 3 classes (x, y, z)"),
        (tiny_splits({"a": ("x", "w"), "b": CLASS_NAMES["b"]}),
         "was made for task 'a' with 2 classes (x, y); the data now have 2 classes (x, w)"),
        (tiny_splits({"a": CLASS_NAMES["a"]}), "was made for tasks a, b; the data now have tasks a"),
        (tiny_splits(relabel=lambda labels: labels["b"].__setitem__(0, (labels["b"][0] + 1) % 3)),
         "other training labels"),
    ]
    for data, fragment in changes:
        with pytest.raises(BackupError) as info:
            run(config, output_dir=out, data=data, verbose=0)
        message = str(info.value)
        assert "\n" not in message and fragment in message and str(out / "backup") in message, message
        assert "--overwrite" in message
        assert snapshot(out) == kept

    # --overwrite starts afresh on the new data.
    data = changes[0][0]
    result = run(config, output_dir=out, data=data, overwrite=True, verbose=0)
    assert result.model.tasks[0].num_classes == 3 and (out / "metrics.json").is_file()
    assert not (out / "backup").exists()


def test_a_damaged_latest_backup_falls_back_to_the_previous_one(tmp_path):
    from disentangle_tf.errors import BackupError
    from disentangle_tf.run.training import run

    out = tmp_path / "run"
    data = tiny_splits()
    config = interrupted_run(out, data, after=2)
    backup = out / "backup"
    shutil.copytree(out, tmp_path / "run2")
    latest = backup / "latest.weights.h5"
    with open(latest, "r+b") as file:  # what an in-place rewrite cut short leaves
        file.truncate(latest.stat().st_size // 2)

    notices = []
    result = run(config, output_dir=out, data=data, verbose=0, notify=notices.append)
    assert any("epoch 2" in n and "damaged" in n and "previous one, epoch 1" in n for n in notices), notices
    assert any("after epoch 1" in n for n in notices), notices
    assert len(result.history["encoder_loss"]) == 3  # epochs 2, 3 and 4
    assert not backup.exists()

    # Both copies damaged: one line, and the backup is left for the user.
    out = tmp_path / "run2"
    for name in ("latest.weights.h5", "previous.weights.h5"):
        (out / "backup" / name).write_bytes(b"\0" * 100)
    kept = snapshot(out)
    with pytest.raises(BackupError) as info:
        run(config, output_dir=out, data=data, verbose=0)
    message = str(info.value)
    assert "\n" not in message and "is damaged" in message and "--overwrite" in message, message
    assert snapshot(out) == kept


@pytest.mark.parametrize("kill_after_renames", [0, 1, 2, 3])
def test_a_kill_between_the_renames_of_a_checkpoint_leaves_a_complete_one(tmp_path, monkeypatch,
                                                                           kill_after_renames):
    from disentangle_tf.run import backup as backup_module

    def save(content):
        return lambda path: pathlib.Path(path).write_bytes(content)

    backup_module.write_checkpoint(tmp_path, save(b"epoch one"), 1)
    backup_module.write_checkpoint(tmp_path, save(b"epoch two"), 2)
    real_replace, calls = os.replace, []

    def dying_replace(source, target):
        if len(calls) == kill_after_renames:
            raise Interrupt()
        calls.append(target)
        real_replace(source, target)

    monkeypatch.setattr(backup_module.os, "replace", dying_replace)
    with pytest.raises(Interrupt):
        backup_module.write_checkpoint(tmp_path, save(b"epoch three"), 3)
    monkeypatch.setattr(backup_module.os, "replace", real_replace)
    checkpoint = backup_module.find_checkpoint(tmp_path)
    assert checkpoint.epoch == 2 and checkpoint.weights.read_bytes() == b"epoch two"
    # The next checkpoint keeps epoch 2 as the previous one.
    backup_module.write_checkpoint(tmp_path, save(b"epoch three"), 3)
    assert backup_module.find_checkpoint(tmp_path).weights.read_bytes() == b"epoch three"
    (tmp_path / "latest.weights.h5").write_bytes(b"epoch thr")
    assert backup_module.find_checkpoint(tmp_path).weights.read_bytes() == b"epoch two"


def test_changed_options_do_not_resume_a_foreign_backup(tmp_path, capsys):
    from disentangle_tf.cli.common import run_command
    from disentangle_tf.cli.train import main

    out = tmp_path / "run"
    (out / "backup").mkdir(parents=True)
    (out / "config.json").write_text("{}")
    with pytest.raises(SystemExit) as info:
        run_command(main, ["--output-dir", str(out)])
    assert info.value.code == 2
    assert "interrupted run with another configuration" in capsys.readouterr().err
    assert (out / "config.json").read_text() == "{}"


def test_non_finite_loss_stops_training_and_keeps_the_last_good_backup(tmp_path):
    import keras

    from disentangle_tf.run.config import RunConfig
    from disentangle_tf.errors import TrainingDiverged
    from disentangle_tf.run.training import build_model, run

    class Poison(keras.callbacks.Callback):
        """Turns one encoder weight into NaN when the third epoch starts."""

        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 2:
                self.good = [w.numpy().copy() for w in self.model.encoders[0].weights]
                kernel = self.model.encoders[0].trainable_variables[0]
                kernel.assign(np.full(kernel.shape, np.nan, np.float32))

    poison = Poison()
    config = RunConfig().replace({**TINY, "deterministic": False, "epochs": 4})
    data = tiny_splits()
    out = tmp_path / "run"
    with pytest.raises(TrainingDiverged, match=r"encoder_loss became nan at epoch 3") as info:
        run(config, output_dir=out, data=data, verbose=0, callbacks=[poison])
    assert str(out / "backup") in str(info.value)
    metadata = json.loads((out / "backup" / "training_metadata.json").read_text())
    assert metadata["epoch"] == 2  # the backup of the last good epoch is kept
    # The backup holds weights: read them into a new model of the same configuration.
    model = build_model(config, data.tasks)
    model.load_weights(out / "backup" / "latest.weights.h5")
    for saved, good in zip(model.encoders[0].weights, poison.good):
        assert np.all(np.isfinite(saved.numpy()))
        np.testing.assert_array_equal(saved.numpy(), good)
    assert (out / "logs" / "train").is_dir()
    assert not (out / "metrics.json").exists()


def test_without_output_dir_the_same_command_resumes_the_newest_interrupted_run(tmp_path):
    from disentangle_tf.cli.train import default_output_dir

    runs, config = tmp_path / "runs", '{"a": 1}'

    def interrupted(name, config_json=config, finished=False):
        folder = runs / name
        (folder / "backup").mkdir(parents=True)
        (folder / "config.json").write_text(config_json)
        if finished:
            (folder / "metrics.json").write_text("{}")
        return folder

    fresh = default_output_dir("synthetic", config, runs)
    assert fresh.parent == runs and fresh.name.startswith("synthetic-") and not fresh.exists()
    older = interrupted("synthetic-20260101-000000")
    newer = interrupted("synthetic-20260102-000000")
    interrupted("synthetic-20260103-000000", config_json='{"a": 2}')  # another configuration
    interrupted("synthetic-20260104-000000", finished=True)  # a finished run
    interrupted("hdf5-20260105-000000")  # another data set
    assert default_output_dir("synthetic", config, runs) == newer
    (newer / "metrics.json").write_text("{}")
    assert default_output_dir("synthetic", config, runs) == older
    assert default_output_dir("synthetic", '{"a": 3}', runs) not in {older, newer}


@pytest.mark.slow
def test_a_terminated_run_says_how_to_resume_and_the_same_command_resumes_it(tmp_path):
    from disentangle_tf.data.hdf5 import write_hdf5

    write_hdf5(tmp_path / "tiny.h5", tiny_splits())
    config = tmp_path / "tiny.json"
    config.write_text(json.dumps({**TINY, "dataset": "hdf5", "data": str(tmp_path / "tiny.h5")}))
    driver, marker = tmp_path / "driver.py", tmp_path / "writing"
    driver.write_text(DRIVER)
    env = {key: value for key, value in os.environ.items() if key != "SLOW_BACKUP"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    command = [sys.executable, str(driver), "--config", str(config), "--epochs", "4", "--quiet"]
    # Stopped (SIGTERM) while epoch 3's backup is written, slowly: epoch 2's is the last whole one.
    process = subprocess.Popen(command, cwd=tmp_path, env={**env, "SLOW_BACKUP": str(marker)},
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 240
    while time.time() < deadline and not marker.is_file():
        assert process.poll() is None, process.stderr.read()[-2000:]
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr[-2000:]
    (out,) = tmp_path.glob("runs/hdf5-*")
    assert stderr.strip().splitlines()[-1] == (
        f"interrupted: the same command resumes after epoch 2, the last saved, in runs/{out.name}")
    assert "Traceback" not in stderr

    resumed = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"resuming the interrupted run in runs/{out.name} after epoch 2" in resumed.stdout
    assert list(tmp_path.glob("runs/hdf5-*")) == [out]
    assert (out / "metrics.json").is_file() and not (out / "backup").exists()
