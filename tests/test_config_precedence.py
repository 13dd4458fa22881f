"""Settings resolve as the defaults, then the config file, then the options, and are checked
once, on the merged values: a file may leave to the options what it lacks, and keys that
go together are judged on what the run will use. The train, convert and reproduce
commands run in this process."""

import json
import pathlib

import numpy as np
import pytest
from PIL import Image

from conftest import run_cli

from disentangle_tf.run.config import CHOICES, CROSS_KEY_CHECKS, ConfigError, RunConfig
from disentangle_tf.run.options import OPTIONS
from disentangle_tf.run.run_settings import resolve_config

DEEP = {"encoder_filters": [4] * 6, "encoder_strides": [2] * 6}  # total stride 64

#: For each pair of keys judged together: (what the file gives, what the options give),
#: accepted whichever side each gives, and a merged combination that is refused with a
#: fragment of its message.
CROSS_KEY_CASES = {
    ("dataset", "data"): {
        "accepted": [({"dataset": "csv"}, {"data": "m.csv"}), ({"data": "m.csv"}, {"dataset": "hdf5"})],
        "refused": ({"dataset": "csv"}, {"seed": 1},
                    "c.yaml: the csv data set needs a file: pass --data (or set data in the config file)"),
    },
    ("encoder_filters", "encoder_strides"): {
        "accepted": [({"encoder_filters": [4, 8]}, {"encoder_strides": (2, 2)}),
                     ({"encoder_strides": [2, 1, 2]}, {"encoder_filters": (4, 4, 8)})],
        "refused": ({"encoder_filters": [4, 8]}, {"encoder_strides": (2,)},
                    "c.yaml and --encoder-strides: encoder_filters and encoder_strides must have the same length; "
                    "got 2 and 1"),
    },
    ("image_size", "encoder_strides"): {
        "accepted": [(DEEP, {"image_size": (128, 128)}),
                     ({"image_size": [64, 80]}, {"encoder_strides": (2,) * 6, "encoder_filters": (4,) * 6})],
        "refused": (DEEP, {"image_size": (32, 128)},
                    "--image-size and c.yaml: image_size (32, 128) is smaller than the encoder's total stride 64; "
                    "expected each side >= 64"),
    },
}


def write_config(tmp_path, values, name="c.yaml") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(values))  # JSON is valid YAML
    return name


def test_every_check_of_keys_that_go_together_has_a_case():
    assert set(CROSS_KEY_CASES) == set(CROSS_KEY_CHECKS)


@pytest.mark.parametrize("keys", list(CROSS_KEY_CASES), ids="/".join)
def test_a_file_and_options_giving_one_side_each_are_accepted(keys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for in_file, options in CROSS_KEY_CASES[keys]["accepted"]:
        config = resolve_config(write_config(tmp_path, in_file), {"seed": None, **options}).to_flat_dict()
        for key, value in {**in_file, **options}.items():
            expected = str(tmp_path / value) if key == "data" else value
            assert config[key] == (list(expected) if isinstance(expected, tuple) else expected), key
        # The same values the other way round: the options still win over the file.
        swapped = resolve_config(write_config(tmp_path, options), dict(in_file)).to_flat_dict()
        assert {key: swapped[key] for key in in_file} == {key: config[key] for key in in_file}


@pytest.mark.parametrize("keys", list(CROSS_KEY_CASES), ids="/".join)
def test_a_bad_merged_combination_is_refused_in_one_line_naming_its_sources(keys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    in_file, options, message = CROSS_KEY_CASES[keys]["refused"]
    with pytest.raises(ConfigError) as info:
        resolve_config(write_config(tmp_path, in_file), options)
    assert str(info.value) == message
    assert "\n" not in str(info.value)


def test_the_options_replace_the_file_before_ranges_are_checked(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    # A value out of range that an option replaces is never used.
    name = write_config(tmp_path, {"epochs": 0, "image_size": [8, 8]})
    config = resolve_config(name, {"epochs": 2, "image_size": (16, 20)})
    assert config.training.epochs == 2 and config.data.image_size == (16, 20)
    # Without the options, the file's values are refused naming the file.
    with pytest.raises(ConfigError, match=r"^c.yaml: epochs must be >= 1; got 0$"):
        resolve_config(name, {})
    # A bad option value is named as typed, a bad file value by the file and key.
    with pytest.raises(ConfigError, match=r"^--epochs must be >= 1; got -1$"):
        resolve_config(write_config(tmp_path, {"epochs": 3}), {"epochs": -1})
    # A key of the wrong type, or an unknown one, is an error of the file even when an
    # option replaces it: the file is not what its writer thinks.
    with pytest.raises(ConfigError, match=r"^c.yaml: epochs must be an integer; got 'three'$"):
        resolve_config(write_config(tmp_path, {"epochs": "three"}), {"epochs": 2})
    with pytest.raises(ConfigError, match=r"^c.yaml: unknown key 'epoch' \(did you mean epochs\?\)"):
        resolve_config(write_config(tmp_path, {"epoch": 3}), {"epochs": 2})
    with pytest.raises(ConfigError, match=r"^c.yaml: unknown key 'batchsize' \(did you mean batch_size\?\)"):
        resolve_config(write_config(tmp_path, {"batchsize": 10}), {})
    # A --set value out of range is refused even when an option of the same command replaces it.
    with pytest.raises(ConfigError, match=r"^--set epochs=-1: epochs must be >= 1; got -1$"):
        resolve_config(None, {"epochs": 2}, set_options=["epochs=-1"])
    # A key written with dashes is the same key: the option still replaces it.
    assert resolve_config(write_config(tmp_path, {"batch-size": 0}), {"batch_size": 4}).data.batch_size == 4


def test_a_method_file_and_options_are_checked_together(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    # A grid method's value given in the file, the stride in the options.
    name = write_config(tmp_path, {"adversarial_weight": 0.1, **DEEP})
    config = resolve_config(name, {"image_size": (64, 64)}, "paper grid")
    assert config.training.adversarial_weight == 0.1 and config.data.image_size == (64, 64)
    with pytest.raises(ConfigError, match=r"^c.yaml: image_size \(56, 72\) is smaller than"):
        resolve_config(name, {}, "paper grid")


def test_replace_still_checks_the_whole_configuration():
    base = RunConfig.from_flat_dict(DEEP | {"image_size": [64, 64]}, source="deep.yaml")
    assert base.replace({"image_size": [128, 96]}).data.image_size == (128, 96)
    with pytest.raises(ConfigError, match=r"^option: image_size \(32, 32\) is smaller"):
        base.replace({"image_size": [32, 32]})


# The commands, in this process.

def make_manifest(root: pathlib.Path) -> pathlib.Path:
    """A manifest of 16 PNG images of 20 x 24: 8 training, 4 validation, 4 test rows."""
    (root / "img").mkdir(parents=True, exist_ok=True)
    rows = ["path,split,plane,shadow"]
    for k, split in enumerate(["train"] * 8 + ["val"] * 4 + ["test"] * 4):
        pixels = (np.random.default_rng(k).random((20, 24)) * 255).astype(np.uint8)
        Image.fromarray(pixels, "L").save(root / f"img/{k}.png")
        rows.append(f"img/{k}.png,{split},{'ab'[k % 2]},{['no', 'yes'][(k // 2) % 2]}")
    manifest = root / "m.csv"
    manifest.write_text("\n".join(rows) + "\n")
    return manifest


class Started(Exception):
    """Raised by a stand-in for the training, once the command has resolved its settings."""


def test_train_takes_the_data_set_from_the_file_and_the_file_from_the_options(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    make_manifest(tmp_path)
    write_config(tmp_path, {"dataset": "csv", "tasks": ["plane", "shadow"]}, "layout.yaml")
    write_config(tmp_path, DEEP, "deep.yaml")
    started = []

    def run(config, **kwargs):
        started.append(config)
        raise Started

    import disentangle_tf.run.training

    monkeypatch.setattr(disentangle_tf.run.training, "run", run)
    with pytest.raises(Started):
        run_cli("disentangle_tf.cli.train", ["--config", "layout.yaml", "--data", "m.csv", "--epochs", "1",
                                             "--output-dir", "out1"], capsys)
    assert started[-1].data.dataset == "csv" and started[-1].data.data == str(tmp_path / "m.csv")
    with pytest.raises(Started):
        run_cli("disentangle_tf.cli.train", ["--config", "deep.yaml", "--image-size", "128", "128",
                                             "--output-dir", "out2"], capsys)
    assert started[-1].data.image_size == (128, 128) and started[-1].model.encoder_strides == (2,) * 6
    # Too small for the file's encoder: one line naming both, nothing written.
    code, _, err = run_cli("disentangle_tf.cli.train", ["--config", "deep.yaml", "--image-size", "32", "32",
                                                        "--output-dir", "out3"], capsys)
    assert code == 2 and err.strip().splitlines() == [
        "Error: --image-size and deep.yaml: image_size (32, 32) is smaller than the encoder's total stride 64; "
        "expected each side >= 64"]
    assert not (tmp_path / "out3").exists()


def test_convert_takes_the_data_set_from_the_file_and_the_file_from_the_options(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    make_manifest(tmp_path)
    write_config(tmp_path, {"dataset": "csv", "tasks": ["plane", "shadow"], "image_size": [16, 20]}, "layout.yaml")
    code, out, err = run_cli("disentangle_tf.cli.convert", ["--config", "layout.yaml", "--data", "m.csv",
                                                            "--output", "d.h5"], capsys)
    assert code == 0, err
    assert (tmp_path / "d.h5").is_file() and "train 8" in out
    # Without --data, the file's data set is refused naming the file.
    code, _, err = run_cli("disentangle_tf.cli.convert", ["--config", "layout.yaml", "--output", "e.h5"], capsys)
    assert code == 2 and err.strip().splitlines() == [
        "Error: layout.yaml: the csv data set needs a file: pass --data (or set data in the config file)"]
    assert not (tmp_path / "e.h5").exists()


def test_reproduce_judges_the_file_with_its_options(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    write_config(tmp_path, {**DEEP, "epochs": 0}, "deep.yaml")
    started = []

    def reproduce(dataset, seeds, output_dir, config, *args, **kwargs):
        started.append(config)

    import disentangle_tf.cli.reproduce

    monkeypatch.setattr(disentangle_tf.cli.reproduce, "reproduce", reproduce)
    code, _, err = run_cli("disentangle_tf.cli.reproduce", ["synthetic", "--config", "deep.yaml", "--seeds", "1",
                                                            "--image-size", "64", "64", "--epochs", "1",
                                                            "--output-dir", "out"], capsys)
    assert code == 0, err
    assert started[-1].data.image_size == (64, 64) and started[-1].training.epochs == 1
    code, _, err = run_cli("disentangle_tf.cli.reproduce", ["synthetic", "--config", "deep.yaml", "--seeds", "1",
                                                            "--epochs", "1", "--output-dir", "out2"], capsys)
    assert code == 2 and err.strip().splitlines() == [
        "Error: deep.yaml: image_size (56, 72) is smaller than the encoder's total stride 64; expected each side >= 64"]
    assert not (tmp_path / "out2").exists()


def _other_value(option):
    # A valid value other than the option's default, whatever its type.
    if option.choices:
        return next(choice for choice in option.choices if choice != option.default)
    examples = {"memory_budget": "1GiB", "validation_fraction": 0.25, "scale": 0.25, "shadow_salience": 2.0,
                "test_split": ("holdout",), "tasks": ("plane",)}
    return examples.get(option.key, "other")


READ_BY_SOME = [(option, dataset) for option in OPTIONS if option.datasets
                for dataset in CHOICES["dataset"] if dataset not in option.datasets]


def test_every_key_a_data_set_does_not_read_is_declared():
    # What the loaders read: a manifest every manifest key, an HDF5 file its file, its
    # budget and its channels, us-sim its size and salience; the other data sets none.
    readers = {option.key: set(option.datasets) for option in OPTIONS if option.datasets}
    assert readers["data"] == readers["memory_budget"] == readers["channels"] == {"csv", "hdf5"}
    assert readers["scale"] == readers["shadow_salience"] == {"us-sim"}
    assert {key for key, datasets in readers.items() if datasets == {"csv"}} >= {
        "tasks", "image_root", "layout", "path_column", "split_column", "train_split", "val_split", "test_split",
        "validation_fraction", "group_column", "missing_labels", "separator", "extension"}


@pytest.mark.parametrize("option,dataset", READ_BY_SOME, ids=lambda x: getattr(x, "key", x))
def test_a_value_the_data_set_would_ignore_is_refused_naming_where_it_came_from(option, dataset, tmp_path,
                                                                               monkeypatch):
    monkeypatch.chdir(tmp_path)
    value = _other_value(option)
    expected = f"only with the {' or '.join(option.datasets)} data set; got {dataset}"
    # Named on the command line (even at its default), by --set, or by a file away from its default.
    for options, set_options, file_values, label in [
            ({option.key: value}, [], {}, option.option),
            ({option.key: option.default}, [], {}, option.option),
            ({}, [f"{option.key}={json.dumps(list(value) if isinstance(value, tuple) else value)}"], {}, "--set "),
            ({}, [], {option.key: list(value) if isinstance(value, tuple) else value}, f"c.yaml: {option.key}")]:
        with pytest.raises(ConfigError) as info:
            needs_file = {"data": "m.h5"} if dataset in ("csv", "hdf5") else {}
            resolve_config(write_config(tmp_path, {"dataset": dataset, **needs_file, **file_values}), options,
                           set_options=set_options)
        message = str(info.value)
        assert message.startswith(label) and expected in message and "\n" not in message, message


@pytest.mark.parametrize("dataset", CHOICES["dataset"])
def test_a_runs_config_json_with_every_key_at_its_default_is_accepted(dataset, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    saved = RunConfig().to_flat_dict() | {"dataset": dataset, "data": "m.csv" if dataset in ("csv", "hdf5") else "",
                                          "tasks": ["plane"] if dataset == "csv" else []}
    if dataset == "us-sim":
        saved["shadow_salience"] = 2.5  # a value of its own data set
    config = resolve_config(write_config(tmp_path, saved, "config.json"), {})
    assert config.data.dataset == dataset
    # The default data set, named by neither, is what a key given without --dataset meets.
    with pytest.raises(ConfigError, match=r"^--task: only with the csv data set; got synthetic \(choose the data "
                                          r"set with --dataset\)$"):
        resolve_config(None, {"tasks": ("plane",)})
