"""``--set KEY=VALUE`` sets any configuration key on the train and reproduce command lines,
the value read as YAML, between the config file and the named options in precedence; a
malformed one or an unknown key is one line naming the option, exit 2. The commands run in
this process and stop once their settings are resolved."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import resolve_cli
from disentangle_tf.run.config import RunConfig
from disentangle_tf.run.options import find_option

#: For every configuration key: a ``--set`` value as typed, and the value the resolved
#: configuration must hold (``to_flat_dict``), none of them the default.
VALUES = {
    "dataset": ("digits-shadow", "digits-shadow"),
    "image_size": ("[32,40]", [32, 40]),
    "batch_size": ("7", 7),
    "flip": ("false", False),
    "sampling": ("uniform", "uniform"),
    "mixup": ("0.4", 0.4),
    "mixup_partners": ("other_combination", "other_combination"),
    "seed": ("9", 9),
    "data": ("m.csv", "<tmp>/m.csv"),
    "image_root": ("images", "<tmp>/images"),
    "layout": ("fetal_planes_db", "fetal_planes_db"),
    "tasks": ("[plane, shadow]", ["plane", "shadow"]),
    "path_column": ("file", "file"),
    "split_column": ("part", "part"),
    "train_split": ("fit", "fit"),
    "val_split": ("check", "check"),
    "test_split": ("[t1, t2]", ["t1", "t2"]),
    "validation_fraction": ("0.25", 0.25),
    "group_column": ("patient", "patient"),
    "missing_labels": ("allow", "allow"),
    "separator": (";", ";"),
    "extension": (".png", ".png"),
    "channels": ("3", 3),
    "scale": ("0.25", 0.25),
    "shadow_salience": ("2.5", 2.5),
    "memory_budget": ("8GiB", "8GiB"),
    "encoder_filters": ("[4, 4, 8, 8, 16, 16]", [4, 4, 8, 8, 16, 16]),
    "encoder_strides": ("[2, 2, 1, 1, 1, 1]", [2, 2, 1, 1, 1, 1]),
    "stem_filters": ("4", 4),
    "activation": ("relu", "relu"),
    "feature_pooling": ("flatten", "flatten"),
    "head_units": ("[8, 4]", [8, 4]),
    "l2_weight": ("1e-4", 1e-4),  # a number, as --learning-rate 1e-4 is (PyYAML alone reads a string)
    "synchronized_batch_norm": ("true", True),
    "conditional_adversaries": ("true", True),
    "epochs": ("3", 3),
    "learning_rate": ("0.005", 0.005),
    "adversary_learning_rate": ("0.02", 0.02),
    "adversary_momentum": ("0.5", 0.5),
    "adversarial_weight": ("0.1", 0.1),
    "adversary_steps": ("2", 2),
    "adversary_batches": ("fresh", "fresh"),
    "independence_penalty": ("coral", "coral"),
    "group_dro_step_size": ("0.05", 0.05),
    "adversarial_objective": ("uniform", "uniform"),
    "independence_weight": ("2.5", 2.5),
    "independence_bandwidth": ("batch", "batch"),
    "adversarial_training": ("gradient_reversal", "gradient_reversal"),
    "independence_layers": ("features", "features"),
    "penalty_schedule": ("dann", "dann"),
    "restore_best_weights": ("true", True),
    "precise_batch_norm": ("0", 0),
    "last_layer_retraining": ("false", False),
    "ensemble_size": ("3", 3),
    "ensemble_member": ("1", 1),
    "error_upweight": ("5", 5),
    "jit_compile": ("true", True),
    "saved_model": ("false", False),
    "figures": ("false", False),
    "strategy": ("mirrored", "mirrored"),
    "deterministic": ("true", True),
    "threads": ("tensorflow", "tensorflow"),
}

#: The command's module and the arguments it needs besides the ``--set`` options.
COMMANDS = {
    "train": ("disentangle_tf.cli.train", ["--output-dir", "out"]),
    "reproduce": ("disentangle_tf.cli.reproduce", ["synthetic", "--seeds", "1", "--output-dir", "out"]),
}


def run_cli(command, arguments, capsys, monkeypatch, dataset=None):
    """``(exit code, stderr, resolved flat configuration or None)`` of a command run in this
    process with its settings' resolution stopped once done (:func:`conftest.resolve_cli`),
    on ``dataset`` if given (the train command's ``--dataset``, reproduce's argument)."""
    module_name, required = COMMANDS[command]
    if dataset is not None:
        required = (["--dataset", dataset, *required] if command == "train"
                    else [dataset, *required[1:]])
    code, err, config = resolve_cli(module_name, [*required, *arguments], capsys, monkeypatch, prog_name=command)
    return code, err, (None if config is None else config.to_flat_dict())


def test_every_configuration_key_has_a_value_here():
    assert set(VALUES) == set(RunConfig().to_flat_dict())
    defaults = RunConfig().to_flat_dict()
    assert [key for key, (_, value) in VALUES.items() if value == defaults[key]] == []


@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize("key", list(VALUES))
def test_every_key_can_be_set_with_set(command, key, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    text, expected = VALUES[key]
    if isinstance(expected, str) and expected.startswith("<tmp>/"):
        expected = str(tmp_path / expected[len("<tmp>/"):])
    readers = find_option(key).datasets  # a key only some data sets read is set beside one of them
    extra = [] if not readers or key == "data" else ["--set", "data=m.csv"] * (readers[0] in ("csv", "hdf5"))
    code, err, config = run_cli(command, ["--set", f"{key}={text}", *extra], capsys, monkeypatch,
                                dataset=readers[0] if readers else None)
    assert code == 0 and config is not None, err
    if command == "reproduce" and key == "dataset":
        expected = "synthetic"  # the command's DATASET argument is a named option: it wins
    assert config[key] == expected


@pytest.mark.parametrize("command", list(COMMANDS))
def test_set_comes_after_the_file_and_before_the_named_options(command, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "c.yaml").write_text(json.dumps({"epochs": 2, "batch_size": 6, "seed": 4}))
    code, err, config = run_cli(command, ["--config", "c.yaml", "--set", "epochs=3", "--set", "batch-size=8",
                                          "--set", "batch_size=9", "--epochs", "5"], capsys, monkeypatch)
    assert code == 0, err
    assert config["epochs"] == 5  # the named option beats --set
    assert config["batch_size"] == 9  # --set beats the file; the last of a key wins
    assert config["seed"] == 4  # the file beats the defaults


def test_set_beats_the_method_and_fixes_a_grid_method_value(monkeypatch, capsys, tmp_path):
    monkeypatch.chdir(tmp_path)
    code, err, config = run_cli("train", ["--method", "paper", "--set", "adversarial_weight=0.5"], capsys, monkeypatch)
    assert code == 0, err
    assert config["adversarial_weight"] == 0.5 and config["adversary_batches"] == "fresh"  # the rest: paper's
    code, err, config = run_cli("train", ["--method", "paper grid", "--set", "adversarial_weight=0.1"], capsys,
                                monkeypatch)
    assert code == 0, err
    assert config["adversarial_weight"] == 0.1


#: Import paths that name nothing (a module no installation has; a function json lacks).
ABSENT_MODULE = "disentangle_tf_tests_no_such_module"
ABSENT_FUNCTION = "no_such_function"


@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize("arguments, message", [
    (["--set", "epochs"], "Error: --set 'epochs': expected KEY=VALUE, a configuration key and its value "
                          "(--set epochs=3, --set image_size=[32,32])"),
    (["--set", "=3"], "Error: --set '=3': expected KEY=VALUE"),
    (["--set", "epoch=3"], "Error: --set epoch=3: unknown key 'epoch' (did you mean epochs?); expected one of: "
                           "activation, adversarial_objective,"),
    (["--set", "image_size=[32,"], "Error: --set image_size=[32,: the value is not YAML"),
    (["--set", "epochs=three"], "Error: --set epochs=three: epochs must be an integer; got 'three'"),
    (["--set", "epochs=0"], "Error: --set epochs=0: epochs must be >= 1; got 0"),
    (["--set", "image_size=32"], "Error: --set image_size=32: image_size must be a list of 2 int; got 32"),
    (["--set", "flip=maybe"], "Error: --set flip=maybe: flip must be true or false; got 'maybe'"),
    (["--set", "independence_penalty=mmd"], "Error: --set independence_penalty=mmd: independence_penalty must be "
                                             "one of hsic, coral or an import path 'package.module:function'"),
    (["--set", f"independence_penalty={ABSENT_MODULE}:penalty"],
     f"Error: --set independence_penalty={ABSENT_MODULE}:penalty: independence_penalty '{ABSENT_MODULE}:penalty': "
     f"cannot import '{ABSENT_MODULE}'"),
    (["--set", f"independence_penalty=json:{ABSENT_FUNCTION}"],
     f"Error: --set independence_penalty=json:{ABSENT_FUNCTION}: independence_penalty 'json:{ABSENT_FUNCTION}': "
     f"'json' has no function '{ABSENT_FUNCTION}'"),
], ids=["no =", "no key", "unknown key", "not YAML", "wrong type", "out of range", "not a list", "not a bool",
        "not a penalty", "a path to no module", "a path to no function"])
def test_a_bad_set_is_one_line_naming_the_option_and_exit_2(command, arguments, message, tmp_path, monkeypatch,
                                                             capsys):
    monkeypatch.chdir(tmp_path)
    code, err, config = run_cli(command, arguments, capsys, monkeypatch)
    lines = err.strip().splitlines()
    assert code == 2 and config is None
    assert len(lines) == 1 and lines[0].startswith(message), lines
    assert not (tmp_path / "out").exists()


def test_the_command_line_refuses_a_bad_set_before_tensorflow_loads(tmp_path):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    script = ("import runpy, sys; sys.argv = ['train', '--set', 'epochs', '--output-dir', 'out']\n"
              "try:\n    runpy.run_module('disentangle_tf.train', run_name='__main__')\n"
              "finally:\n    print('tensorflow' in sys.modules)\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, env=env,
                            timeout=300)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "Error: --set 'epochs': expected KEY=VALUE, a configuration key and its value "
        "(--set epochs=3, --set image_size=[32,32])"]
    assert result.stdout.split() == ["False"]
