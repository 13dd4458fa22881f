"""One command at a time writes an output directory: a second one on a live run's
directory is refused in one line, writing nothing (``--overwrite`` or not), while the first
completes alone; a lock left by a killed process does not block, and the interrupted run
it leaves resumes."""

import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import pytest

from conftest import run_cli
from test_fault_tolerance import TINY, snapshot, tiny_splits

# Trains like ``python -m disentangle_tf.train``; with PAUSE set, it stops after writing the
# backup of epoch 1 (announced in the file PAUSE) until the file PAUSE.go exists.
DRIVER = '''
import os, pathlib, sys, time
import disentangle_tf.run.callbacks as callbacks
from disentangle_tf.cli.common import run_command
from disentangle_tf.cli.train import main

pause = os.environ.get("PAUSE")
if pause:
    real_write = callbacks.write_checkpoint

    def write_then_wait(backup_dir, save_weights, epoch):
        real_write(backup_dir, save_weights, epoch)
        if epoch == 1:
            pathlib.Path(pause).write_text(str(os.getpid()))
            deadline = time.time() + 300
            while not pathlib.Path(pause + ".go").exists() and time.time() < deadline:
                time.sleep(0.05)

    callbacks.write_checkpoint = write_then_wait
run_command(main, sys.argv[1:], prog_name="train")
'''

# Holds a directory's lock (as a training would) until its standard input closes.
HOLDER = '''
import sys
from disentangle_tf.run.output_lock import hold_output_dir

with hold_output_dir(sys.argv[1], "training"):
    print("held", flush=True)
    sys.stdin.read()
'''


def env():
    return {**{k: v for k, v in os.environ.items() if k != "PAUSE"}, "TF_CPP_MIN_LOG_LEVEL": "3"}


@pytest.fixture
def tiny_command(tmp_path):
    """``command(out)``: the train command on 16 + 8 tiny images, two epochs."""
    from disentangle_tf.data.hdf5 import write_hdf5

    write_hdf5(tmp_path / "tiny.h5", tiny_splits())
    config = tmp_path / "tiny.json"
    config.write_text(json.dumps({**TINY, "dataset": "hdf5", "data": str(tmp_path / "tiny.h5")}))
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)

    def command(out, *extra):
        return [sys.executable, str(driver), "--method", "paper", "--config", str(config), "--epochs", "2",
                "--output-dir", str(out), "--quiet", *extra]

    return command


def start_paused(command, marker: pathlib.Path) -> subprocess.Popen:
    """The command started and waiting after its first epoch's backup."""
    process = subprocess.Popen(command, env={**env(), "PAUSE": str(marker)}, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 240
    while not marker.is_file():
        assert process.poll() is None and time.time() < deadline, process.communicate()[1][-2000:]
        time.sleep(0.05)
    return process


@pytest.mark.slow
def test_a_second_training_on_a_live_runs_directory_is_refused_while_the_first_completes_alone(
        tmp_path, tiny_command, capsys):
    from disentangle_tf.cli.train import main

    out, marker = tmp_path / "out", tmp_path / "paused"
    first = start_paused(tiny_command(out), marker)
    try:
        pid = int(marker.read_text())
        before = snapshot(out)  # the first run waits: nothing changes but by a second command
        assert (out / "backup").is_dir() and not (out / "metrics.json").exists()  # it looks resumable
        message = f"Error: --output-dir {out}: another training (pid {pid}) is writing to it"
        second = subprocess.run([sys.executable, "-m", "disentangle_tf.train", *tiny_command(out)[2:]], env=env(),
                                capture_output=True, text=True, timeout=300)
        assert second.returncode == 2, second.stderr[-2000:]
        assert second.stderr.strip().splitlines() == [message] and second.stdout == ""
        # --overwrite does not delete a live run's files either; in this process too.
        code, stdout, stderr = run_cli(main, tiny_command(out, "--overwrite")[2:], capsys)
        assert (code, stdout, stderr.strip().splitlines()) == (2, "", [message])
        assert snapshot(out) == before
    finally:
        (tmp_path / "paused.go").write_text("")
        _, stderr = first.communicate(timeout=300)
    assert first.returncode == 0, stderr[-2000:]
    assert (out / "metrics.json").is_file() and not (out / "backup").exists()
    assert not (out / ".lock").exists()
    # One writer: every TensorBoard file of the run is the first process's.
    events = [p.name for p in (out / "logs").rglob("events.out.tfevents.*")]
    assert events and all(f".{pid}." in name for name in events), events


@pytest.mark.slow
def test_a_lock_left_by_a_killed_run_is_taken_over_and_the_run_resumes(tmp_path, tiny_command, capsys):
    from disentangle_tf.cli.train import main

    out, marker = tmp_path / "out", tmp_path / "paused"
    first = start_paused(tiny_command(out), marker)
    first.send_signal(signal.SIGKILL)
    first.communicate(timeout=60)
    lock = json.loads((out / ".lock").read_text())
    assert lock["pid"] == first.pid  # left behind, naming a process that no longer exists
    code, stdout, stderr = run_cli(main, tiny_command(out)[2:], capsys)
    assert code == 0, stderr
    assert f"resuming the interrupted run in {out} after epoch 1" in stdout
    assert (out / "metrics.json").is_file() and not (out / ".lock").exists()


def dead_pid() -> int:
    """The pid of a process that has ended."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    with pytest.raises(ProcessLookupError):
        os.kill(process.pid, 0)
    return process.pid


def test_a_lock_file_naming_a_dead_process_does_not_block(tmp_path):
    import socket

    from disentangle_tf.run.config import RunConfig
    from disentangle_tf.run.output_lock import hold_output_dir, lock_holder
    from disentangle_tf.run.outputs import check_output_dir
    from disentangle_tf.run.training import run

    out = tmp_path / "out"
    out.mkdir()
    (out / ".lock").write_text(json.dumps({"pid": dead_pid(), "host": socket.gethostname(),
                                           "command": "training"}))
    assert lock_holder(out) is None
    assert check_output_dir(out, overwrite=False) is False  # a stale lock alone: an empty directory
    config = RunConfig().replace({**TINY, "epochs": 1, "precise_batch_norm": 0})
    result = run(config, output_dir=out, data=tiny_splits(), verbose=0)
    assert (out / "metrics.json").is_file() and result.output_dir == out
    assert not (out / ".lock").exists()
    # Taken over: the file names this process while it holds it.
    (out / ".lock").write_text("not even JSON")
    with hold_output_dir(out, "training"):
        assert json.loads((out / ".lock").read_text())["pid"] == os.getpid()
        assert lock_holder(out) is None  # this process's own lock does not refuse its own checks
    assert not (out / ".lock").exists()


@pytest.fixture
def holder(tmp_path):
    """``hold(directory)``: another process holds the directory's lock until the test ends."""
    script = tmp_path / "holder.py"
    script.write_text(HOLDER)
    processes = []

    def hold(directory):
        process = subprocess.Popen([sys.executable, str(script), str(directory)], env=env(),
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                   text=True)
        processes.append(process)
        assert process.stdout.readline().strip() == "held"
        return process

    yield hold
    for process in processes:
        process.kill()
        process.wait()


def test_every_command_refuses_a_directory_another_process_writes_to(tmp_path, holder, capsys):
    from disentangle_tf.cli import reproduce, train
    from disentangle_tf.errors import ConfigError
    from disentangle_tf.run.config import RunConfig
    from disentangle_tf.run.training import run

    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.txt").write_text("user data")
    process = holder(out)
    message = f"--output-dir {out}: another training (pid {process.pid}) is writing to it"
    before = snapshot(out)
    config_file = tmp_path / "tiny.json"
    config_file.write_text(json.dumps({**TINY, "epochs": 1}))
    for main, arguments in [(train.main, ["--config", str(config_file), "--output-dir", str(out)]),
                            (train.main, ["--config", str(config_file), "--output-dir", str(out), "--overwrite"]),
                            (reproduce.main, ["synthetic", "--seeds", "1", "--epochs", "1", "--output-dir", str(out),
                                              "--overwrite"])]:
        code, stdout, stderr = run_cli(main, arguments, capsys)
        assert (code, stdout, stderr.strip().splitlines()) == (2, "", [f"Error: {message}"]), arguments
    # The library refuses too, a single model and an ensemble alike, before anything is written.
    for size in (1, 2):
        config = RunConfig().replace({**TINY, "epochs": 1, "ensemble_size": size})
        with pytest.raises(ConfigError) as info:
            run(config, output_dir=out, data=tiny_splits(), overwrite=True, verbose=0)
        assert str(info.value) == message
    assert snapshot(out) == before


def test_an_ensemble_holds_its_directory_while_its_members_write_theirs(tmp_path, eager_runs):
    from disentangle_tf.run.config import RunConfig
    from disentangle_tf.run.output_lock import lock_holder
    from disentangle_tf.run.training import run

    out = tmp_path / "ensemble"
    seen = []

    import keras

    class WatchLocks(keras.callbacks.Callback):
        """Records, at each member's first epoch, who holds the ensemble's and the member's lock."""

        def on_epoch_begin(self, epoch, logs=None):
            member = json.loads((out / "members" / str(len(seen)) / ".lock").read_text())
            seen.append((json.loads((out / ".lock").read_text())["pid"], member["pid"]))

    config = RunConfig().replace({**TINY, "epochs": 1, "ensemble_size": 2, "precise_batch_norm": 0,
                                  "last_layer_retraining": False})
    run(config, output_dir=out, data=tiny_splits(), verbose=0, callbacks=[WatchLocks()])
    assert seen == [(os.getpid(), os.getpid())] * 2
    assert (out / "metrics.json").is_file() and lock_holder(out) is None
    assert not list(out.rglob(".lock"))


def test_a_run_started_before_a_key_existed_resumes_while_the_key_keeps_its_default(tmp_path):
    from disentangle_tf.run.config import RunConfig
    from disentangle_tf.run.outputs import BACKUP_NAME, is_resumable

    config = RunConfig.from_flat_dict({"epochs": 3})
    older = {key: value for key, value in config.to_flat_dict().items() if key != "group_dro_step_size"}
    run = tmp_path / "run"
    (run / BACKUP_NAME).mkdir(parents=True)
    (run / "config.json").write_text(json.dumps(older, indent=2) + "\n")
    assert is_resumable(run, config.to_json())
    # The key away from its default: the older run did not train so.
    assert not is_resumable(run, RunConfig.from_flat_dict({"epochs": 3, "group_dro_step_size": 0.01}).to_json())
    # Another value of a key the saved run has, or a key the package no longer has: not the same run.
    assert not is_resumable(run, RunConfig.from_flat_dict({"epochs": 4}).to_json())
    # A key the package always had, missing from the file: not the same run, whatever its value.
    (run / "config.json").write_text(json.dumps({k: v for k, v in older.items() if k != "seed"}, indent=2) + "\n")
    assert not is_resumable(run, config.to_json())
    (run / "config.json").write_text(json.dumps({**older, "retired_key": 1}, indent=2) + "\n")
    assert not is_resumable(run, config.to_json())
