"""A full disk during a run: one line naming the file that could not be written, exit
code 2, no traceback; the last good backup (or what the export had finished) is kept, and
the same command run again resumes after the last finished epoch, or finishes the export,
and ends with the files of a run that never failed."""

from __future__ import annotations

import errno
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys

import pytest

from conftest import eager_compiles
from test_fault_tolerance import TINY, tiny_splits

EPOCHS = 2
RESUMES = "it resumes after the last finished epoch"
FINISHES = "it finishes the export"
STARTS = "it starts the run"


def full_disk(path=None) -> OSError:
    return OSError(errno.ENOSPC, "No space left on device", *([str(path)] if path is not None else []))


def train(root: pathlib.Path, out: pathlib.Path) -> int:
    """``python -m disentangle_tf.train`` in this process (the recommended method); its exit code."""
    from disentangle_tf.cli.common import run_command
    from disentangle_tf.cli.train import main

    try:
        run_command(main, ["--config", str(root / "tiny.json"), "--epochs", str(EPOCHS), "--output-dir", str(out),
                           "--quiet"], prog_name="train")
    except SystemExit as stop:
        return stop.code
    return 0


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The data and configuration files, and the directory of a run that never failed.

    The module's runs train eagerly, this one and those it is compared with: four steps each,
    fewer than it takes to trace them."""
    from disentangle_tf.data.hdf5 import write_hdf5

    root = tmp_path_factory.mktemp("full_disk")
    write_hdf5(root / "tiny.h5", tiny_splits())
    # Every file a run writes, each a place where the disk can fill; batches of 8, two steps
    # an epoch: what is written, and when, is the point.
    (root / "tiny.json").write_text(json.dumps({**TINY, "batch_size": 8, "saved_model": True, "figures": True,
                                                "dataset": "hdf5", "data": str(root / "tiny.h5")}))
    with eager_compiles():
        assert train(root, root / "reference") == 0
    return root


def files(directory: pathlib.Path) -> list[str]:
    """The files of a run, each TensorBoard events file named by its directory alone."""
    names = set()
    for path in directory.rglob("*"):
        if path.is_file():
            relative = path.relative_to(directory)
            names.add(str(relative.parent / "events") if path.name.startswith("events.out.") else str(relative))
    return sorted(names)


def logged_steps(log_dir: pathlib.Path) -> set:
    """The steps at which any of the events files in ``log_dir`` holds a value."""
    import tensorflow as tf

    steps = set()
    for path in log_dir.glob("events.out.*"):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            if event.summary.value:
                steps.add(event.step)
    return steps


def backed_up(out: pathlib.Path) -> int:
    from disentangle_tf.run.backup import find_checkpoint

    return find_checkpoint(out / "backup").epoch


# Each site: (where the write fails, installed with monkeypatch; the path the line names,
# relative to the output directory; what running the command again does).

def _backup(monkeypatch, out):
    from disentangle_tf.run import callbacks

    real, calls = callbacks.save_weights_file, []

    def save(model, path):
        calls.append(path)
        if len(calls) < EPOCHS:
            return real(model, path)
        pathlib.Path(path).write_bytes(b"half a weights file")
        raise full_disk(path)

    monkeypatch.setattr(callbacks, "save_weights_file", save)


def _epoch_log(monkeypatch, out):
    import keras

    real = keras.callbacks.CSVLogger.on_epoch_end

    def log(self, epoch, logs=None):
        if epoch < EPOCHS:
            return real(self, epoch, logs)
        self.csv_file.write(f"{epoch},0.")  # a row cut short
        self.csv_file.flush()
        raise full_disk()

    monkeypatch.setattr(keras.callbacks.CSVLogger, "on_epoch_end", log)


def _summary_writer(monkeypatch, out):
    import tensorflow as tf

    real, failed = tf.summary.scalar, []

    def scalar(name, data, step=None, description=None):
        if step == EPOCHS and not failed:  # the first value of the last epoch
            failed.append(name)
            raise tf.errors.ResourceExhaustedError(
                None, None, f"{out}/logs/train/events.out.tfevents.1.v2; No space left on device")
        return real(name, data, step=step, description=description)

    monkeypatch.setattr(tf.summary, "scalar", scalar)


def _config_json(monkeypatch, out):
    real = pathlib.Path.write_text

    def write_text(self, text, *args, **kwargs):
        if self.name == ".config.json.partial":
            real(self, text[:10])
            raise full_disk(self)
        return real(self, text, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "write_text", write_text)


def _lock(monkeypatch, out):
    from disentangle_tf.run import output_lock

    def pwrite(fd, data, offset):
        raise full_disk()

    monkeypatch.setattr(output_lock.os, "pwrite", pwrite)


def _model_keras(monkeypatch, out):
    import keras

    def save(self, filepath, *args, **kwargs):
        pathlib.Path(filepath).write_bytes(b"PK half an archive")
        raise full_disk(filepath)

    monkeypatch.setattr(keras.Model, "save", save)


def _saved_model(monkeypatch, out):
    import tensorflow as tf

    from disentangle_tf import export

    def export_saved_model(model, path):
        pathlib.Path(path, "variables").mkdir(parents=True)
        pathlib.Path(path, "variables", "variables.index").write_bytes(b"half")
        raise tf.errors.ResourceExhaustedError(
            None, None, f"{path}/saved_model.pb.tmp0123; No space left on device")

    monkeypatch.setattr(export, "export_saved_model", export_saved_model)


def _final_logs(monkeypatch, out):
    import tensorflow as tf

    from disentangle_tf.run import summaries

    def write_final_results(log_dir, *args, **kwargs):
        raise tf.errors.UnknownError(None, None, f"{log_dir}/events.out.tfevents.2.v2: No space left on device")

    monkeypatch.setattr(summaries, "write_final_results", write_final_results)


def _figures(monkeypatch, out):
    import matplotlib.figure

    def savefig(self, fname, *args, **kwargs):
        pathlib.Path(fname).write_bytes(b"\x89PNG half")
        raise full_disk(fname)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", savefig)


def _metrics_json(monkeypatch, out):
    real = pathlib.Path.write_text

    def write_text(self, text, *args, **kwargs):
        if self.name == ".metrics.json.partial":
            real(self, text[:10])
            raise full_disk(self)
        return real(self, text, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "write_text", write_text)


SITES = {
    "backup": (_backup, "backup/partial.weights.h5", RESUMES),
    "epoch log": (_epoch_log, "logs/epochs.csv", RESUMES),
    "summary writer": (_summary_writer, "logs/train", RESUMES),
    "config.json": (_config_json, "config.json", STARTS),
    "lock": (_lock, ".lock", ""),
    "model.keras": (_model_keras, "model.keras", FINISHES),
    "SavedModel": (_saved_model, "saved_model", FINISHES),
    "final TensorBoard results": (_final_logs, "logs", FINISHES),
    "figures": (_figures, "figures", FINISHES),
    "metrics.json": (_metrics_json, "metrics.json", FINISHES),
}


@pytest.mark.parametrize("site", list(SITES))
def test_a_full_disk_says_so_in_one_line_and_the_same_command_goes_on(reference, tmp_path, monkeypatch, capsys,
                                                                       site, eager_runs):
    fault, name, outcome = SITES[site]
    out = tmp_path / "run"
    capsys.readouterr()
    with monkeypatch.context() as patch:
        fault(patch, out)
        code = train(reference, out)
    captured = capsys.readouterr()
    assert code == 2, captured.err
    then = f": {outcome}" if outcome else ""
    assert captured.err.strip().splitlines() == [
        f"Error: cannot write {out / name}: no space left on device; free some space, then run the same "
        f"command again{then}"], captured.err
    assert "Traceback" not in captured.out + captured.err

    # What was written before is kept: the backup of the last finished epoch, or nothing
    # at all when the run failed before its first epoch.
    left = files(out) if out.is_dir() else []
    assert not any("partial" in path for path in left), left
    assert ".lock" not in left
    if outcome == STARTS or not outcome:
        assert left == []
    else:
        assert backed_up(out) == (EPOCHS - 1 if outcome == RESUMES else EPOCHS)
        assert "metrics.json" not in left
    if outcome == FINISHES and not name.startswith("logs"):
        assert not (out / name).exists()  # what the failed step had written is removed

    # The same command again: resumed (or started), finished, as a run that never failed.
    assert train(reference, out) == 0
    captured = capsys.readouterr()
    if outcome == RESUMES:
        assert f"resuming the interrupted run in {out} after epoch {EPOCHS - 1}" in captured.out
    elif outcome == FINISHES:
        assert f"resuming the interrupted run in {out} after epoch {EPOCHS}" in captured.out
    else:
        assert "resuming" not in captured.out
    expected = reference / "reference"
    assert files(out) == files(expected)
    assert json.loads((out / "metrics.json").read_text()) == json.loads((expected / "metrics.json").read_text())
    assert (out / "logs" / "epochs.csv").read_bytes() == (expected / "logs" / "epochs.csv").read_bytes()
    assert (out / "config.json").read_text() == (expected / "config.json").read_text()
    for run in ("train", "validation"):
        assert logged_steps(out / "logs" / run) == set(range(1, EPOCHS + 1))


def test_the_errors_of_a_write_that_cannot_be_done_are_recognised(tmp_path):
    import tensorflow as tf

    from disentangle_tf.errors import WriteError
    from disentangle_tf.run.writes import write_error

    path = tmp_path / "model.keras"
    h5py_error = RuntimeError("Can't decrement id ref count (file write failed: time = now, filename = 'x.h5', "
                              "file descriptor = 5, errno = 28, error message = 'No space left on device')")
    for error, reason in [
        (full_disk(), "no space left on device; free some space"),
        (OSError(errno.EDQUOT, "Disk quota exceeded"), "disk quota exceeded; free some space or raise the quota"),
        (OSError(errno.EROFS, "Read-only file system"), "read-only file system; make it writable"),
        (PermissionError(errno.EACCES, "Permission denied"), "permission denied; make it writable"),
        (h5py_error, "no space left on device"),
        (tf.errors.ResourceExhaustedError(None, None, "x.pb.tmp; No space left on device"), "no space left"),
    ]:
        converted = write_error(error, path, "it finishes the export")
        assert isinstance(converted, WriteError) and isinstance(converted, OSError)
        assert str(converted).startswith(f"cannot write {path}: {reason}"), str(converted)
        assert str(converted).endswith(", then run the same command again: it finishes the export")
        assert converted.filename == str(path) and "\n" not in str(converted)
    try:
        try:
            raise full_disk()
        except OSError as error:
            raise ValueError("wrapped") from error
    except ValueError as wrapped:
        assert write_error(wrapped, path).errno == errno.ENOSPC
    for other in (ValueError("bad value"), OSError(errno.ENOENT, "No such file or directory"), KeyError("x")):
        assert write_error(other, path) is None


def test_a_summary_writer_that_leaves_no_free_block_has_filled_the_disk(tmp_path, monkeypatch):
    from disentangle_tf.errors import WriteError
    from disentangle_tf.run import writes

    assert writes.free_blocks(tmp_path / "not" / "made") > 0
    real, left = os.statvfs, {}

    def statvfs(path):
        stats = real(path)
        free = left.get("free", stats.f_bavail)
        return type("Stats", (), {"f_blocks": stats.f_blocks, "f_bfree": free, "f_bavail": free})

    monkeypatch.setattr(writes.os, "statvfs", statvfs)
    with pytest.raises(WriteError, match=f"cannot write {tmp_path / 'logs'}: no space left on device"):
        with writes.writing(tmp_path / "logs", room=True):
            left["free"] = 0  # what a summary writer's dropped write leaves
    # A file system that reports no free block all along tells nothing: no error.
    with writes.writing(tmp_path / "logs", room=True):
        pass


def test_a_failed_checkpoint_write_leaves_the_complete_ones_and_no_partial_file(tmp_path):
    from disentangle_tf.errors import WriteError
    from disentangle_tf.run.backup import find_checkpoint, write_checkpoint

    def save(content):
        return lambda path: pathlib.Path(path).write_bytes(content)

    def fails(path):
        pathlib.Path(path).write_bytes(b"epoch th")
        raise full_disk(path)

    write_checkpoint(tmp_path, save(b"epoch one"), 1)
    write_checkpoint(tmp_path, save(b"epoch two"), 2)
    kept = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    with pytest.raises(WriteError, match="partial.weights.h5: no space left on device"):
        write_checkpoint(tmp_path, fails, 3)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == kept
    assert find_checkpoint(tmp_path).weights.read_bytes() == b"epoch two"


def test_backup_weights_are_made_in_memory_and_load_back(tmp_path, tiny_model, monkeypatch):
    import keras
    import numpy as np

    from disentangle_tf.run import writes

    model = tiny_model()
    model(np.zeros((1, 16, 16, 1), "float32"))
    memory = writes._MemoryFile()
    model.save_weights(memory)  # Keras takes the in-memory file: HDF5 writes no file on disk
    assert memory.getvalue()[:8] == b"\x89HDF\r\n\x1a\n"

    def on_disk(self, filepath, *args, **kwargs):
        assert isinstance(filepath, writes._MemoryFile), filepath
        return real(self, filepath, *args, **kwargs)

    real = keras.Model.save_weights
    monkeypatch.setattr(keras.Model, "save_weights", on_disk)
    writes.save_weights_file(model, tmp_path / "w.weights.h5")
    monkeypatch.undo()
    other = tiny_model(seed=1)
    other(np.zeros((1, 16, 16, 1), "float32"))
    other.load_weights(tmp_path / "w.weights.h5")
    for mine, loaded in zip(model.get_weights(), other.get_weights()):
        np.testing.assert_array_equal(mine, loaded)


def test_a_row_or_header_cut_short_is_dropped_when_the_log_resumes(tmp_path):
    from disentangle_tf.run.callbacks import EpochLog

    path = tmp_path / "epochs.csv"
    # The row of epoch 2 was being written when the disk filled; its backup was not.
    path.write_bytes(b"epoch,loss,val_loss\r\n1,0.9,0.8\r\n2,0.")
    log = EpochLog(path, resumed_after=1)
    log.on_train_begin()
    log.on_epoch_end(1, {"loss": 0.5, "val_loss": 0.4})
    log.on_train_end()
    assert path.read_bytes() == b"epoch,loss,val_loss\r\n1,0.9,0.8\r\n2,0.5,0.4\r\n"

    path.write_text("epoch,lo")  # a header cut short
    log = EpochLog(path)
    log.on_train_begin()
    log.on_epoch_end(0, {"loss": 1.0, "val_loss": 0.9})
    log.on_train_end()
    assert path.read_bytes() == b"epoch,loss,val_loss\r\n1,1.0,0.9\r\n"


def _mount_tmpfs(directory: pathlib.Path, size: str) -> str | None:
    """Mount a tmpfs of ``size`` on ``directory``; the reason it cannot be done, or None."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0 or shutil.which("mount") is None:
        return "mounting a tmpfs needs root and mount(8)"
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(directory)],
                            capture_output=True, text=True)
    return None if result.returncode == 0 else f"mounting a tmpfs is not permitted here: {result.stderr.strip()}"


@pytest.mark.slow
def test_a_really_full_disk_ends_in_one_line_not_a_crash_and_the_run_then_finishes(reference, tmp_path):
    mount = tmp_path / "small"
    mount.mkdir()
    reason = _mount_tmpfs(mount, "400k")  # room for about one backup of the tiny model
    if reason:
        pytest.skip(reason)
    try:
        out = mount / "run"
        command = [sys.executable, "-m", "disentangle_tf.train", "--config", str(reference / "tiny.json"),
                   "--epochs", str(EPOCHS), "--output-dir", str(out), "--quiet"]
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
        failed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
        assert failed.returncode == 2, failed.stderr[-3000:]  # not 139, a segmentation fault
        assert "Traceback" not in failed.stderr, failed.stderr[-3000:]
        errors = [line for line in failed.stderr.splitlines() if line.startswith("Error:")]
        assert len(errors) == 1 and failed.stderr.rstrip().endswith(errors[0]), failed.stderr[-3000:]
        assert re.fullmatch(rf"Error: cannot write {re.escape(str(out))}/\S+: no space left on device; free some "
                            rf"space, then run the same command again: it (resumes after the last finished epoch|"
                            rf"finishes the export|starts the run)", errors[0]), errors[0]

        subprocess.run(["mount", "-o", "remount,size=16m", str(mount)], check=True)
        resumed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
        assert resumed.returncode == 0, resumed.stderr[-3000:]
        # The finished run has every file and every score of a run that never failed. (Its values
        # are compared exactly in the tests above, in-process; a separate process sizes its own
        # thread pools, so its sums may round otherwise than the reference's.)
        assert files(out) == files(reference / "reference")
        finished, expected = (json.loads((d / "metrics.json").read_text()) for d in (out, reference / "reference"))
        assert {split: sorted(values) for split, values in finished.items()} == {
            split: sorted(values) for split, values in expected.items()}
        assert not (out / "backup").exists()
    finally:
        subprocess.run(["umount", str(mount)], capture_output=True)
