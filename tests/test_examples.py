"""The example scripts answer ``--help`` and a bad option at once, before TensorFlow loads."""

import pathlib
import subprocess
import sys

import pytest

EXAMPLES = sorted((pathlib.Path(__file__).parents[1] / "examples").glob("*.py"))

# Runs the script as ``python SCRIPT ARGS`` would, then reports whether TensorFlow was imported.
RUNNER = """
import runpy, sys
path, *args = sys.argv[1:]
sys.argv = [path, *args]
try:
    runpy.run_path(path, run_name="__main__")
finally:
    print("tensorflow imported:", "tensorflow" in sys.modules)
"""


def _run(script, *args):
    return subprocess.run([sys.executable, "-c", RUNNER, str(script), *args], capture_output=True, text=True,
                          timeout=120)


def test_there_are_examples():
    assert {p.name for p in EXAMPLES} >= {"quickstart_synthetic.py", "own_encoder.py", "own_numpy_arrays.py"}


@pytest.mark.parametrize("script", EXAMPLES, ids=lambda p: p.name)
def test_help_prints_usage_only(script):
    result = _run(script, "--help")
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stderr == ""
    assert result.stdout.startswith(f"usage: {script.name}")
    assert result.stdout.rstrip().endswith("tensorflow imported: False")


@pytest.mark.parametrize("script", EXAMPLES, ids=lambda p: p.name)
def test_a_bad_option_is_one_usage_error(script):
    result = _run(script, "--epochs", "many")
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1].startswith(f"{script.name}: error: argument --epochs: invalid int value")
    assert result.stdout.rstrip().endswith("tensorflow imported: False")
