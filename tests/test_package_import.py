"""Importing the package changes nothing in the process: no environment variable, no import
hook, no TensorFlow; the commands set their environment variables as they start, and the
former paths of moved modules are plain modules that warn once."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

# Each in a fresh process: the state before and after ``import disentangle_tf``.
SNAPSHOT = r"""
import json, os, sys
{before}
environ, meta_path, path_hooks, path = dict(os.environ), list(sys.meta_path), list(sys.path_hooks), list(sys.path)
import disentangle_tf
print(json.dumps({{
    "environ": {{k: v for k, v in os.environ.items() if environ.get(k) != v}},
    "removed_environ": sorted(set(environ) - set(os.environ)),
    "meta_path": [repr(f) for f in sys.meta_path if f not in meta_path] + [repr(f) for f in meta_path
                                                                             if f not in sys.meta_path],
    "path_hooks_unchanged": sys.path_hooks == path_hooks, "path_unchanged": sys.path == path,
    "tensorflow": "tensorflow" in sys.modules,
    "registered": "keras" in sys.modules and __import__("keras").saving.get_registered_object(
        "disentangle_tf>Disentangler") is not None,
}}))
"""

#: Every former path of a moved module and where the module is now.
FORMER_PATHS = {
    **{name: f"evaluation.{name}" for name in ("forward", "scores", "plots", "probes")},
    **{name: f"run.{name}" for name in (
        "backup", "callbacks", "config", "config_values", "console", "datasets", "distribution", "methods",
        "outputs", "run_settings", "summaries", "threads", "training", "weight_averaging")},
}


def _python(script: str, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    environment = {key: value for key, value in os.environ.items()
                   if key not in ("TF_ENABLE_ONEDNN_OPTS", "DISENTANGLE_TF_FAST")}
    environment.update({"TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})})
    return subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True,
                          env=environment, timeout=300)


def _report(result: subprocess.CompletedProcess) -> dict:
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("argv", [["-c"], ["-m"], ["train.py", "--epochs", "3"]],
                         ids=["python -c", "python -m", "a script"])
def test_importing_the_package_changes_no_environment_variable_nor_import_hook(argv):
    # Whatever sys.argv says (python -m sets "-m" while it imports the package).
    report = _report(_python(SNAPSHOT.format(before=f"sys.argv = {argv!r}")))
    assert report["environ"] == {} and report["removed_environ"] == []
    assert report["meta_path"] == []
    assert report["path_hooks_unchanged"] and report["path_unchanged"]
    assert report["tensorflow"] is False and report["registered"] is False


def test_importing_the_package_after_keras_registers_its_classes_and_changes_nothing_else():
    report = _report(_python(SNAPSHOT.format(before="import keras")))
    assert report["environ"] == {} and report["removed_environ"] == [] and report["meta_path"] == []
    assert report["registered"] is True


def test_register_keras_classes_registers_them_whatever_the_order_of_the_imports():
    script = ("import disentangle_tf, keras; "
              "before = keras.saving.get_registered_object('disentangle_tf>Disentangler'); "
              "disentangle_tf.register_keras_classes(); disentangle_tf.register_keras_classes(); "
              "names = ('Disentangler', 'DisentanglerEnsemble', 'FusedBatchNormalization', 'FusedAdam', 'FusedSGD'); "
              "print(before is None, [keras.saving.get_registered_object('disentangle_tf>' + n).__name__ "
              "for n in names])")
    result = _python(script)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == (
        "True ['Disentangler', 'DisentanglerEnsemble', 'FusedBatchNormalization', 'FusedAdam', 'FusedSGD']")


# Imports every former path twice, recording the warnings, in a fresh process.
FORMER = r"""
import importlib, json, sys, warnings
import disentangle_tf
moved = json.loads(sys.argv[1])
loaded_early = sorted(name for name in moved.values() if "disentangle_tf." + name in sys.modules)
report = {"loaded_early": loaded_early, "paths": {}}
for old, new in moved.items():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        former = importlib.import_module("disentangle_tf." + old)
        again = importlib.import_module("disentangle_tf." + old)
    current = importlib.import_module("disentangle_tf." + new)
    report["paths"][old] = {
        "same": former is current and again is current and getattr(disentangle_tf, old) is current,
        "name": former.__name__,
        "warnings": [[w.category.__name__, str(w.message)] for w in caught],
    }
print(json.dumps(report))
"""


def test_a_former_path_is_the_moved_module_and_warns_once_naming_the_new_path():
    report = _report(_python(FORMER, json.dumps(FORMER_PATHS)))
    assert report["loaded_early"] == []  # importing the package imports none of them
    assert set(report["paths"]) == set(FORMER_PATHS)
    for old, new in FORMER_PATHS.items():
        found = report["paths"][old]
        assert found["same"] and found["name"] == f"disentangle_tf.{new}", old
        # One warning: the second import gives the module without a word.
        assert found["warnings"] == [[
            "DeprecationWarning", f"disentangle_tf.{old} is now disentangle_tf.{new}; import that instead "
                                  f"(disentangle_tf.{old} is removed in the next release)"]], old


def test_the_warning_of_a_former_path_points_at_the_import_and_shows_by_default():
    # Python shows a DeprecationWarning by default when it is attributed to __main__.
    result = _python("import disentangle_tf.config\nimport disentangle_tf.config\n")
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("DeprecationWarning") == 1
    assert result.stderr.startswith("<string>:1: DeprecationWarning: disentangle_tf.config is now "
                                    "disentangle_tf.run.config")


# Runs a command as ``python -m`` does, then reports the variable and whether TensorFlow loaded.
COMMAND = r"""
import os, runpy, sys
sys.argv = [sys.argv[1], "--help"]
code = 0
try:
    runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
except SystemExit as exit:
    code = exit.code
print(code, os.environ.get("TF_ENABLE_ONEDNN_OPTS"), "tensorflow" in sys.modules)
"""


@pytest.mark.parametrize("command", ["train", "predict", "convert", "reproduce", "report"])
@pytest.mark.parametrize("env, expected", [({}, "1"), ({"TF_ENABLE_ONEDNN_OPTS": "0"}, "0"),
                                           ({"DISENTANGLE_TF_FAST": "0"}, "None")],
                         ids=["unset", "the user's value", "fast paths off"])
def test_a_command_sets_its_environment_variables_as_it_starts(command, env, expected):
    result = _python(COMMAND, f"disentangle_tf.{command}", env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == f"0 {expected} False"
