"""The table of options (disentangle_tf.run.options) is the one declaration of every
configuration key: the configuration classes, the checks of each value, the commands'
options, the HParams list and the documentation's table are made from it, so that a new key
is one new row."""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import subprocess
import sys
import textwrap

from disentangle_tf.run import options
from disentangle_tf.run.config import HYPERPARAMETERS, SECTIONS, DataConfig, ModelConfig, RunConfig, TrainConfig

ROOT = pathlib.Path(__file__).resolve().parent.parent

#: Every key of a ``config.json``, in its order, as runs have written it.
CONFIG_JSON_KEYS = [
    "dataset", "image_size", "batch_size", "flip", "sampling", "mixup", "mixup_partners", "seed", "data", "image_root", "layout", "tasks",
    "path_column", "split_column", "train_split", "val_split", "test_split", "validation_fraction", "group_column",
    "missing_labels", "separator", "extension", "channels", "scale", "shadow_salience", "memory_budget",
    "encoder_filters", "encoder_strides", "stem_filters", "activation", "feature_pooling", "head_units", "l2_weight",
    "synchronized_batch_norm", "conditional_adversaries",
    "epochs", "learning_rate", "adversary_learning_rate", "adversary_momentum", "adversarial_weight",
    "adversary_steps", "adversary_batches", "adversarial_objective", "independence_weight", "independence_bandwidth",
    "independence_penalty", "group_dro_step_size", "adversarial_training", "independence_layers", "penalty_schedule",
    "restore_best_weights", "precise_batch_norm", "last_layer_retraining", "ensemble_size", "ensemble_member",
    "error_upweight", "jit_compile", "saved_model", "figures", "strategy", "deterministic", "threads",
]


def test_every_key_of_the_table_is_a_field_of_its_section_and_every_field_a_key():
    fields = {section: [field.name for field in dataclasses.fields(cls)] for section, cls in SECTIONS.items()}
    assert [cls.__name__ for cls in SECTIONS.values()] == ["DataConfig", "ModelConfig", "TrainConfig"]
    assert [key for section in ("data", "model", "training") for key in fields[section]] == CONFIG_JSON_KEYS
    assert [option.key for option in options.OPTIONS] == CONFIG_JSON_KEYS
    for option in options.OPTIONS:
        assert option.key in fields[option.section], option.key
    assert list(json.loads(RunConfig().to_json())) == CONFIG_JSON_KEYS


def test_the_generated_sections_keep_the_defaults_runs_were_recorded_with():
    data, model, training = DataConfig(), ModelConfig(), TrainConfig()
    assert (data.dataset, data.image_size, data.batch_size, data.flip, data.test_split, data.memory_budget) == (
        "synthetic", (56, 72), 50, True, ("test",), "auto")
    assert (model.encoder_filters, model.head_units, model.l2_weight) == ((16, 16, 32, 32, 64, 64), (256,), 1e-5)
    assert (training.epochs, training.learning_rate, training.independence_weight, training.threads) == (
        15, 1e-3, 10.0, "auto")
    # The model section is the model's own Architecture, not a copy of it.
    from disentangle_tf.models.defaults import Architecture

    assert issubclass(ModelConfig, Architecture)
    # Each key's help text documents its field.
    assert "batch_size: Images per main step" in DataConfig.__doc__
    assert "stem_filters: Filters of the initial 3x3 convolution" in ModelConfig.__doc__
    assert "independence_weight: Weight of the class-conditional HSIC penalty" in TrainConfig.__doc__


def test_hparams_hold_what_changes_what_is_learned_not_files_columns_or_machinery():
    for key in ("independence_weight", "adversarial_weight", "learning_rate", "epochs", "batch_size", "image_size",
                "seed", "dataset", "sampling", "encoder_filters"):
        assert key in HYPERPARAMETERS, key
    for key in ("separator", "threads", "path_column", "split_column", "data", "image_root", "strategy",
                "memory_budget", "jit_compile", "deterministic", "extension", "saved_model", "figures"):
        assert key not in HYPERPARAMETERS, key
    values = RunConfig().replace({"independence_weight": 2.5, "separator": ";"}).hyperparameters()
    assert values["independence_weight"] == 2.5 and "separator" not in values
    assert values["image_size"] == [56, 72]


def test_range_words_and_errors_follow_the_rows_bounds():
    option = options.Option("ratio", "training", float, 0.5, "A ratio.", minimum=0, maximum=1, open_minimum=True)
    assert option.range_text() == "in (0, 1]"
    assert option.range_error(0.0) == "ratio must be in (0, 1]; got 0.0"
    assert option.range_error(1.0) is None and option.range_error(0.3) is None
    listed = options.Option("sizes", "model", tuple[int, ...], (1,), "Sizes.", minimum=1)
    assert listed.range_error([2, 0]) == "sizes must be integers >= 1; got [2, 0]"
    assert options.option_name("tasks") == "--task" and options.option_name("batch_size") == "--batch-size"


#: Run in a fresh process: one row added to the table before anything reads it, then every
#: place a key reaches, through the commands as a user runs them.
_NEW_KEY_SCRIPT = textwrap.dedent('''
    import contextlib, io, json, sys
    from disentangle_tf.run import options
    assert "disentangle_tf.run.config" not in sys.modules  # nothing has read the table yet
    options.OPTIONS = options.OPTIONS + (options.Option(
        "warmup_epochs", "training", int, 2, "Epochs of warm-up before the penalty applies.", minimum=0,
        command="train", hyperparameter=True),)

    from click.testing import CliRunner
    from disentangle_tf.cli import train
    from disentangle_tf.cli.common import run_command
    from disentangle_tf.run.config import RunConfig, TrainConfig
    from disentangle_tf.run.option_text import options_table

    found = {}

    def capture(output_dir, overwrite, config_json=None):
        found["config_json"] = config_json
        raise SystemExit(0)

    train.check_output_dir = capture  # the run stops where config.json's text is final

    def config_json(*args):
        found.pop("config_json", None)
        result = CliRunner().invoke(train.main, [*args, "--output-dir", "out"])
        assert result.exit_code == 0, result.output
        return json.loads(found["config_json"])

    def error(*args):
        stderr = io.StringIO()
        with contextlib.redirect_stderr(stderr):
            try:
                run_command(train.main, [*args, "--output-dir", "out"])
            except SystemExit as exit:
                return exit.code, stderr.getvalue().strip()
        return 0, stderr.getvalue().strip()

    with open("c.yaml", "w") as file:
        file.write("warmup_epochs: 6\\n")
    print(json.dumps({
        "help": CliRunner().invoke(train.main, ["--help"], terminal_width=200).output,
        "help_all": CliRunner().invoke(train.main, ["--help-all"], terminal_width=200).output,
        "default": config_json(),
        "by_option": config_json("--warmup-epochs", "4"),
        "by_set": config_json("--set", "warmup_epochs=5"),
        "by_file": config_json("--config", "c.yaml"),
        "option_error": error("--warmup-epochs", "-1"),
        "set_error": error("--set", "warmup_epochs=-3"),
        "file_type_error": error("--set", "warmup_epochs=soon"),
        "field": TrainConfig().warmup_epochs,
        "doc": TrainConfig.__doc__,
        "hparams": RunConfig().replace({"warmup_epochs": 7}).hyperparameters(),
        "table": options_table(),
    }))
''')


def test_one_row_is_all_a_new_key_needs(tmp_path):
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", _NEW_KEY_SCRIPT], cwd=tmp_path, env=environment,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    # --help-all lists its option, with its help and default; --help (a shown row only) does not.
    help_all = " ".join(seen["help_all"].split())
    assert "--warmup-epochs INTEGER Epochs of warm-up before the penalty applies. [default: 2]" in help_all
    assert "--warmup-epochs" not in seen["help"]
    # Its option, --set and a --config file set it; config.json holds it, after the keys before it.
    assert seen["default"]["warmup_epochs"] == 2
    assert (seen["by_option"]["warmup_epochs"], seen["by_set"]["warmup_epochs"], seen["by_file"]["warmup_epochs"]) == (
        4, 5, 6)
    assert list(seen["default"]) == CONFIG_JSON_KEYS + ["warmup_epochs"]
    # Its range is checked: one line naming the option as typed, the key and what it expects.
    assert seen["option_error"] == [2, "Error: --warmup-epochs must be >= 0; got -1"]
    assert seen["set_error"] == [2, "Error: --set warmup_epochs=-3: warmup_epochs must be >= 0; got -3"]
    assert seen["file_type_error"] == [2, "Error: --set warmup_epochs=soon: warmup_epochs must be an integer; "
                                          "got 'soon'"]
    # The configuration class has the field and documents it; HParams hold it.
    assert seen["field"] == 2
    assert "warmup_epochs: Epochs of warm-up before the penalty applies." in seen["doc"]
    assert seen["hparams"]["warmup_epochs"] == 7
    # The documentation's table has its row: key, option, section, type, default, range and help.
    table = seen["table"]
    row = table[table.index("   * - ``warmup_epochs``"):][:8]
    assert row == ["   * - ``warmup_epochs``", "", "       ``--warmup-epochs``", "     - training", "     - an integer",
                   "     - ``2``", "     - >= 0", "     - Epochs of warm-up before the penalty applies."]


def test_the_documentation_lists_every_key_once_with_its_option():
    from disentangle_tf.run.option_text import options_table

    table = options_table()
    rows = [line for line in table if line.startswith("   * - ``")]
    assert rows == [f"   * - ``{key}``" for key in CONFIG_JSON_KEYS]
    assert "       ``--task`` (in ``--help``)" in table
    assert "       ``--flip/--no-flip``" in table
    assert "     - ``group_balanced`` (``--method paper``: ``uniform``)" in table
    assert "     - in [0, 1)" in table  # validation_fraction
    page = (ROOT / "docs" / "options.rst").read_text()
    assert ".. options-table::" in page
    assert "   options\n" in (ROOT / "docs" / "index.rst").read_text()
