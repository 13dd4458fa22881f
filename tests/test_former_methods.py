"""The rows of the recorded comparisons (``blocks retrained`` and the like) are no method to
choose: train's ``--method``, ``compile(method=...)`` and ``model_methods()`` leave them out,
train refuses one in one line naming the reproduce command, and reproduce still runs each
with the settings it ran with, so that the commands printed with the recorded tables run."""

from __future__ import annotations

import json
import pathlib
import re
import shlex

import pytest

from disentangle_tf.experiments.former_methods import FORMER_METHODS, reproduce_command
from disentangle_tf.experiments.reproduce import EXPERIMENTS, resolve_methods
from disentangle_tf.models.methods import METHODS, NEUTRAL, model_methods

ROOT = pathlib.Path(__file__).resolve().parent.parent

#: The rows and their settings as they ran, beyond NEUTRAL: written out here, not read from
#: the package, so that a change to the recommended setting cannot change what they train.
RECORDED = {
    "blocks retrained": {
        "independence_weight": 10.0, "independence_layers": "blocks", "sampling": "group_balanced",
        "precise_batch_norm": 30, "last_layer_retraining": True},
    "blocks retrained 25 epochs": {
        "independence_weight": 10.0, "independence_layers": "blocks", "sampling": "group_balanced",
        "precise_batch_norm": 30, "last_layer_retraining": True, "epochs": 25},
    "blocks without retraining": {
        "independence_weight": 10.0, "independence_layers": "blocks", "sampling": "group_balanced",
        "precise_batch_norm": 30, "last_layer_retraining": False},
    "blocks without retraining 25 epochs": {
        "independence_weight": 10.0, "independence_layers": "blocks", "sampling": "group_balanced",
        "precise_batch_norm": 30, "last_layer_retraining": False, "epochs": 25},
    "block maps without retraining": {
        "independence_weight": 10.0, "independence_layers": "block_maps", "sampling": "group_balanced",
        "precise_batch_norm": 30, "last_layer_retraining": False},
}

#: Every key a method decides, at its neutral value, as every row of either table starts from.
NEUTRAL_VALUES = {
    "adversarial_weight": 0.0, "adversarial_objective": "maximize_cross_entropy", "adversarial_training": "alternating",
    "adversary_batches": "same", "adversary_steps": 5, "conditional_adversaries": False, "independence_weight": 0.0,
    "independence_bandwidth": "class", "independence_layers": "features", "independence_penalty": "hsic",
    "group_dro_step_size": 0.0, "penalty_schedule": "constant", "sampling": "uniform", "restore_best_weights": False,
    "precise_batch_norm": 0, "last_layer_retraining": False, "ensemble_size": 1, "error_upweight": 0,
    "mixup": 0.0, "mixup_partners": "any",  # added later: every row ran without mixup
}


def test_the_public_method_list_leaves_the_recorded_rows_out():
    from disentangle_tf.cli.train import main

    assert set(FORMER_METHODS) == set(RECORDED)
    method_option = next(p for p in main.params if p.name == "method")
    for name in RECORDED:
        assert name not in METHODS and name not in model_methods() and name not in method_option.type.choices
    # The choices a user keeps, among them the five-member ensemble the README recommends.
    assert {"recommended", "recommended ensemble", "recommended ensemble of 5", "paper", "lambda=0 retrained"} \
        <= set(METHODS)


def test_compile_does_not_take_a_recorded_row():
    from conftest import build_tiny_model

    model = build_tiny_model()
    with pytest.raises(ValueError) as info:
        model.compile(method="block maps without retraining")
    assert "unknown method 'block maps without retraining'" in str(info.value)
    assert len(str(info.value).splitlines()) == 1


@pytest.mark.parametrize("name", list(RECORDED))
def test_reproduce_resolves_each_row_to_the_settings_it_ran_with(name):
    assert NEUTRAL == NEUTRAL_VALUES  # the keys every row decides, as when the rows ran
    [method] = resolve_methods("synthetic", [name])
    assert method is FORMER_METHODS[name]
    assert dict(method.settings) == {**NEUTRAL_VALUES, **RECORDED[name]}
    assert not method.oracle and not method.points and not method.selection
    assert method.grid() == [{**NEUTRAL_VALUES, **RECORDED[name]}]


def test_a_method_s_name_comes_before_a_recorded_row_s_and_all_means_the_methods():
    names = [m.name for m in resolve_methods("synthetic", ["all"])]
    assert not set(names) & set(FORMER_METHODS) and "recommended" in names
    both = resolve_methods("us-sim", ["blocks retrained", "lambda=0", "blocks retrained"])
    assert [m.name for m in both] == ["blocks retrained", "lambda=0"] and both[1] is METHODS["lambda=0"]


def test_the_reproduce_command_trains_a_recorded_row_with_its_settings(tmp_path, monkeypatch):
    """The command resolves the row and hands it to the same comparison as a method; each run's
    configuration is the shared one with the row's point laid over it, as for a method."""
    from click.testing import CliRunner

    from disentangle_tf.cli import reproduce as command

    handed = {}

    def stand_in(dataset, seeds, output_dir, config, method_list, selection, **kwargs):
        handed.update(dataset=dataset, seeds=list(seeds), config=config, methods=list(method_list))

    monkeypatch.setattr(command, "reproduce", stand_in)
    monkeypatch.setattr(command, "quiet_tensorflow", lambda *args, **kwargs: None)
    result = CliRunner().invoke(command.main, ["synthetic", "--methods", "blocks without retraining 25 epochs,paper",
                                               "--seeds", "3-3", "--output-dir", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert [m.name for m in handed["methods"]] == ["blocks without retraining 25 epochs", "paper"]
    [point] = handed["methods"][0].grid()
    flat = handed["config"].replace(point, source="method blocks without retraining 25 epochs").to_flat_dict()
    assert {key: flat[key] for key in RECORDED["blocks without retraining 25 epochs"]} == \
        RECORDED["blocks without retraining 25 epochs"]
    assert handed["config"].to_flat_dict()["epochs"] == 15  # the row's 25 epochs are its own


def test_train_refuses_a_recorded_row_in_one_line_naming_reproduce(tmp_path):
    from click.testing import CliRunner

    from disentangle_tf.cli.train import main

    result = CliRunner().invoke(main, ["--method", "blocks retrained 25 epochs", "--output-dir", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert lines[0].startswith("Error: --method 'blocks retrained 25 epochs' is a row of a recorded comparison")
    assert lines[0].endswith(
        "python -m disentangle_tf.reproduce synthetic --methods 'blocks retrained 25 epochs' --output-dir DIR runs it")
    assert "Traceback" not in result.output and not (tmp_path / "out").exists()
    # A name of neither table stays click's own refusal.
    other = CliRunner().invoke(main, ["--method", "blocks", "--output-dir", str(tmp_path / "out")])
    assert other.exit_code == 2 and "Invalid value for '--method': 'blocks'" in other.output


def test_the_command_train_names_runs_the_row():
    words = shlex.split(reproduce_command("blocks retrained 25 epochs"))
    assert words[:4] == ["python", "-m", "disentangle_tf.reproduce", "synthetic"]
    [method] = resolve_methods(words[3], [words[words.index("--methods") + 1]])
    assert method is FORMER_METHODS["blocks retrained 25 epochs"]


def _printed_reproduce_commands():
    """``(file, dataset, method names)`` of every reproduce command with ``--methods`` printed in
    the docs, the README and experiments/ (continuation lines joined; placeholders skipped)."""
    files = [*sorted((ROOT / "docs").glob("*.rst")), ROOT / "README.rst",
             *sorted(p for p in (ROOT / "experiments").rglob("*") if p.suffix in (".md", ".rst", ".py", ".sh")
                     and "results" not in p.relative_to(ROOT / "experiments").parts)]
    found = []
    for path in files:
        text = re.sub(r"\\\n\s*", " ", path.read_text())
        for line in text.splitlines():
            if "disentangle_tf.reproduce " not in line or "--methods" not in line:
                continue
            command = line.split("disentangle_tf.reproduce ", 1)[1].split("``")[0].split(" #")[0]
            try:
                words = shlex.split(command)
            except ValueError:
                continue
            if "--methods" not in words or words.index("--methods") + 1 >= len(words):
                continue
            value = words[words.index("--methods") + 1]
            if words[0] not in EXPERIMENTS or any(mark in value for mark in ("NAME", "$", "...")):
                continue  # a placeholder, or a user's file (its rows are read from it)
            found.append((str(path.relative_to(ROOT)), words[0], [n.strip() for n in value.split(",") if n.strip()]))
    return found


def test_every_printed_reproduce_command_names_rows_reproduce_runs():
    commands = _printed_reproduce_commands()
    printed = {name for _, _, names in commands for name in names}
    assert set(RECORDED) - {"blocks retrained 25 epochs"} <= printed  # the parser sees the recorded rows' commands
    for where, dataset, names in commands:
        assert [m.name for m in resolve_methods(dataset, names)] == list(dict.fromkeys(names)), where


@pytest.mark.parametrize("run_json", sorted(str(p.relative_to(ROOT)) for p in (ROOT / "experiments" / "results")
                                            .rglob("run.json")))
def test_every_recorded_row_is_one_reproduce_runs(run_json):
    recorded = json.loads((ROOT / run_json).read_text())
    names = list(dict.fromkeys(name for part in recorded["parts"] for name in part["methods"]))
    assert [m.name for m in resolve_methods(recorded["dataset"], names)] == names


@pytest.mark.parametrize("results", ["synthetic", "us-sim-table2"])
def test_the_report_merges_the_recorded_results_with_their_rows(results, tmp_path):
    from click.testing import CliRunner

    from disentangle_tf.cli.report import main

    recorded = ROOT / "experiments" / "results" / results
    result = CliRunner().invoke(main, [str(recorded), "--output-dir", str(tmp_path / "merged")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "merged" / "results.csv").read_text() == (recorded / "results.csv").read_text()
    summary = (tmp_path / "merged" / "summary.md").read_text().splitlines()
    rows = [line for line in summary if line.startswith("| ") and line.split(" | ")[0][2:] in RECORDED]
    assert rows and rows == [line for line in (recorded / "summary.md").read_text().splitlines()
                             if line.startswith("| ") and line.split(" | ")[0][2:] in RECORDED]
