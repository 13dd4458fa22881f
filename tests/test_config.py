"""Configuration: defaults, flat files, unknown keys and wrong types."""

import json

import pytest

from disentangle_tf.run.config import ConfigError, RunConfig, load_config_file


def test_flat_round_trip_keeps_every_field():
    config = RunConfig()
    flat = config.to_flat_dict()
    assert RunConfig.from_flat_dict(flat) == config
    assert flat["batch_size"] == 50 and flat["adversary_steps"] == 5


def test_replace_overrides_only_given_keys():
    config = RunConfig().replace({"epochs": 3, "image-size": [64, 64]})
    assert config.training.epochs == 3
    assert config.data.image_size == (64, 64)
    assert config.training.adversarial_weight == RunConfig().training.adversarial_weight


@pytest.mark.parametrize(
    "values, fragment",
    [
        ({"epoch": 3}, "unknown key 'epoch'"),
        ({"epochs": "three"}, "epochs must be an integer"),
        ({"epochs": 2.5}, "epochs must be an integer"),
        ({"image_size": [64]}, "image_size"),
        ({"image_size": [8, 8]}, "image_size must be two integers"),
        ({"adversary_batches": "other"}, "adversary_batches must be one of"),
        ({"learning_rate": 0}, "learning_rate must be > 0"),
        ({"learning_rate": float("nan")}, "learning_rate must be a finite number; got nan"),
        ({"adversarial_weight": float("inf")}, "adversarial_weight must be a finite number"),
        ({"independence_weight": -0.5}, "independence_weight must be >= 0"),
        ({"head_units": [16, 0]}, r"head_units must be integers >= 1; got \[16, 0\]"),
        ({"encoder_strides": [2, 0, 2, 1, 2, 1]}, "encoder_strides must be integers >= 1"),
        ({"encoder_filters": [], "encoder_strides": []}, "encoder_filters must list at least one"),
        ({"adversary_momentum": 1.0}, r"adversary_momentum must be in \[0, 1\)"),
        ({"epochs": 0}, "epochs must be >= 1"),
        ({"channels": 2}, "channels must be one of 1, 3; got 2"),
        ({"encoder_filters": [8, 16], "encoder_strides": [2]}, "same length"),
        ({"image_size": [16, 16], "encoder_strides": [2, 2, 2, 2, 2, 2],
          "encoder_filters": [1, 1, 1, 1, 1, 1]}, "total stride 64"),
    ],
)
def test_bad_values_name_the_key(values, fragment):
    with pytest.raises(ConfigError, match=fragment) as info:
        RunConfig.from_flat_dict(values, source="my.yaml")
    assert str(info.value).startswith("my.yaml:")
    assert "\n" not in str(info.value)


def test_yaml_and_json_files(tmp_path):
    (tmp_path / "c.yaml").write_text("epochs: 4\nimage_size: [48, 64]\n")
    (tmp_path / "c.json").write_text(json.dumps({"adversarial_weight": 0.5}))
    assert RunConfig.from_flat_dict(load_config_file(tmp_path / "c.yaml")).training.epochs == 4
    assert load_config_file(tmp_path / "c.json") == {"adversarial_weight": 0.5}


def test_unreadable_or_non_mapping_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_config_file(tmp_path / "missing.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_config_file(tmp_path / "list.yaml")
    (tmp_path / "bad.json").write_text("{oops")
    with pytest.raises(ConfigError, match="not valid YAML or JSON"):
        load_config_file(tmp_path / "bad.json")


def test_methods_set_their_keys_beneath_the_config_file_and_options(tmp_path):
    from disentangle_tf.run.methods import METHODS, NEUTRAL
    from disentangle_tf.cli.train import DEFAULT_METHOD
    from disentangle_tf.run.run_settings import resolve_config

    assert DEFAULT_METHOD == "selected"
    recommended = resolve_config(None, {}, "recommended").to_flat_dict()
    for key, value in METHODS["recommended"].settings.items():
        assert recommended[key] == value, key
    paper = resolve_config(None, {}, "paper").to_flat_dict()
    assert (paper["adversarial_weight"], paper["adversary_batches"], paper["adversary_steps"]) == (0.01, "fresh", 5)
    assert paper["independence_weight"] == 0.0 and paper["sampling"] == "uniform"
    # Every method decides every key of NEUTRAL, so no row inherits another's choice.
    assert all(set(NEUTRAL) <= set(m.settings) for m in METHODS.values())
    # ``--methods`` splits its value at commas: no name may hold one.
    assert not [name for name in METHODS if "," in name]
    config_file = tmp_path / "c.yaml"
    config_file.write_text("independence_weight: 3.0\nsampling: uniform\n")
    layered = resolve_config(str(config_file), {"sampling": "group_balanced"}, "recommended").to_flat_dict()
    assert layered["independence_weight"] == 3.0 and layered["sampling"] == "group_balanced"


def test_the_ensemble_methods_are_the_recommended_setting_with_more_members():
    from disentangle_tf.run.methods import METHODS

    recommended = dict(METHODS["recommended"].settings)
    assert recommended["ensemble_size"] == 1
    for name, members in [("recommended ensemble", 3), ("recommended ensemble of 5", 5)]:
        assert dict(METHODS[name].settings) == {**recommended, "ensemble_size": members}, name


def test_a_grid_method_needs_its_value_on_the_command_line():
    from disentangle_tf.run.run_settings import resolve_config

    with pytest.raises(ConfigError, match="adversarial-weight"):
        resolve_config(None, {}, "paper grid")
    assert resolve_config(None, {"adversarial_weight": 0.1}, "paper grid").training.adversarial_weight == 0.1
    with pytest.raises(ConfigError, match="unknown method"):
        resolve_config(None, {}, "magic")


def test_the_defaults_are_the_recommended_method_so_library_and_command_line_agree():
    from disentangle_tf.run.methods import get_method

    flat = RunConfig().to_flat_dict()
    settings = dict(get_method("recommended").settings)
    assert {key: flat[key] for key in settings} == settings


def test_relative_file_paths_are_made_absolute_so_config_json_works_from_anywhere(tmp_path, monkeypatch):
    from disentangle_tf.run.run_settings import resolve_config

    monkeypatch.chdir(tmp_path)
    config = resolve_config(None, {"dataset": "csv", "data": "data/manifest.csv", "image_root": "images",
                                   "tasks": ("plane",)})
    assert config.data.data == str(tmp_path / "data" / "manifest.csv")
    assert config.data.image_root == str(tmp_path / "images")
    # The written configuration read from another directory names the same files.
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.json").write_text(config.to_json())
    monkeypatch.chdir(tmp_path / "run")
    again = resolve_config("config.json", {})
    assert again.data.data == str(tmp_path / "data" / "manifest.csv") and again == config
    assert resolve_config(None, {"dataset": "csv", "data": "/abs/m.csv", "tasks": ("plane",)}).data.data == "/abs/m.csv"


#: A bad value of each setting given on the command line, and the option as the user types it.
BAD_OPTIONS = {
    "epochs": (-3, "--epochs"), "batch_size": (0, "--batch-size"), "image_size": ((0, 72), "--image-size"),
    "learning_rate": (0.0, "--learning-rate"), "adversary_learning_rate": (-1.0, "--adversary-learning-rate"),
    "adversarial_weight": (-0.5, "--adversarial-weight"), "adversary_steps": (-1, "--adversary-steps"),
    "independence_weight": (float("inf"), "--independence-weight"), "channels": (2, "--channels"),
    "validation_fraction": (1.5, "--validation-fraction"), "head_units": ([0], "--head-units"),
    "ensemble_size": (0, "--ensemble-size"), "precise_batch_norm": (-2, "--precise-batch-norm"),
    "scale": (2.0, "--scale"), "sampling": ("sometimes", "--sampling"), "layout": ("tall", "--layout"),
}


@pytest.mark.parametrize("key", sorted(BAD_OPTIONS))
def test_a_bad_value_given_on_the_command_line_is_named_by_its_option(key):
    from disentangle_tf.cli.train import main
    from disentangle_tf.run.run_settings import resolve_config

    value, option = BAD_OPTIONS[key]
    # The option named is one the train command has.
    assert option in {name for parameter in main.params for name in parameter.opts}
    with pytest.raises(ConfigError) as info:
        resolve_config(None, {"seed": None, key: value})  # None: an option not given
    assert str(info.value).startswith(f"{option} "), str(info.value)
    assert "command line" not in str(info.value)
    # The same value from a file is named by the file and the key, as before.
    with pytest.raises(ConfigError) as info:
        RunConfig().replace({key: value}, source="c.yaml")
    assert str(info.value).startswith(f"c.yaml: {key} "), str(info.value)
