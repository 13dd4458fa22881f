"""The ``disentangle-<command>`` console scripts (``setup.cfg``) are the commands of
``python -m disentangle_tf.<command>``: installed by ``pip install -e .`` beside the
venv's Python, with the same help, exit codes and one-line errors."""

from __future__ import annotations

import configparser
import importlib
import importlib.metadata
import os
import pathlib
import subprocess
import sys
import sysconfig

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
COMMANDS = ["train", "predict", "convert", "reproduce", "report"]
REINSTALL = "not installed: reinstall the package with pip install -e . --no-deps"


def _declared() -> dict[str, str]:
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    lines = config["options.entry_points"]["console_scripts"].strip().splitlines()
    return dict((part.strip() for part in line.split("=", 1)) for line in lines)


def _script(command: str) -> pathlib.Path:
    return pathlib.Path(sysconfig.get_path("scripts")) / f"disentangle-{command}"


def _run(*arguments: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run(list(arguments), capture_output=True, text=True, env=env, timeout=300)


def test_setup_cfg_declares_one_script_per_command():
    assert _declared() == {f"disentangle-{c}": f"disentangle_tf.{c}:script" for c in COMMANDS}


@pytest.mark.parametrize("command", COMMANDS)
def test_a_script_runs_its_command_as_its_program(command, monkeypatch):
    import disentangle_tf.cli.common as common

    calls = []
    monkeypatch.setattr(common, "run_program", lambda main, prog_name=None: calls.append((main, prog_name)))
    importlib.import_module(f"disentangle_tf.{command}").script()
    assert calls == [(importlib.import_module(f"disentangle_tf.cli.{command}").main, f"disentangle-{command}")]


def test_the_installed_metadata_has_the_scripts():
    installed = {entry.name: entry.value for entry in importlib.metadata.entry_points(group="console_scripts")
                 if entry.name.startswith("disentangle-")}
    assert installed == _declared(), REINSTALL


@pytest.mark.parametrize("command", COMMANDS)
def test_the_script_is_in_the_bin_of_the_environment(command):
    script = _script(command)
    assert script.is_file() and os.access(script, os.X_OK), f"{script}: {REINSTALL}"


def test_disentangle_train_help_exits_0():
    result = _run(str(_script("train")), "--help")
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.startswith("Usage: disentangle-train [OPTIONS]")
    assert "--set KEY=VALUE" in result.stdout and result.stderr == ""


@pytest.mark.parametrize("command", COMMANDS)
def test_a_script_and_python_m_give_the_same_error_and_exit_code(command):
    script = _run(str(_script(command)), "--no-such-option")
    module = _run(sys.executable, "-m", f"disentangle_tf.{command}", "--no-such-option")
    assert script.returncode == module.returncode == 2
    lines = script.stderr.strip().splitlines()
    assert lines == module.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: No such option") and "--no-such-option" in lines[0]
    assert "Traceback" not in script.stderr


def test_a_bad_value_is_the_same_line_and_exit_2_from_the_script(tmp_path):
    result = _run(str(_script("train")), "--epochs", "0", "--output-dir", str(tmp_path / "out"))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == ["Error: --epochs must be >= 1; got 0"]
    assert not (tmp_path / "out").exists()


def test_the_readme_names_the_scripts():
    readme = (ROOT / "README.rst").read_text()
    assert "``disentangle-<command>`` script (``disentangle-train --help``)" in readme
