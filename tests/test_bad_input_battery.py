"""Bad input to every command and to the Python API: one line naming what is wrong, exit
code 2 (commands) or a ValueError/TypeError (API), no traceback, and nothing written or
overwritten. The commands run in this process (``run_command`` with the arguments)."""

import math
import pathlib

import numpy as np
import pytest
from PIL import Image

from conftest import build_random_data, run_cli

TINY_OPTIONS = ["--image-size", "16", "20", "--epochs", "1", "--batch-size", "4", "--method", "paper",
                "--adversary-steps", "1", "--quiet"]


def make_manifest(root: pathlib.Path, rows=None, header="path,plane,shadow,split") -> pathlib.Path:
    """PNG images of 20 x 24 and a manifest: 8 training, 4 validation, 4 test rows."""
    (root / "img").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    if rows is None:
        rows = []
        for k, split in enumerate(["train"] * 8 + ["val"] * 4 + ["test"] * 4):
            rows.append(f"img/{k:02d}.png,{'ab'[k % 2]},{['no', 'yes'][(k // 2) % 2]},{split}")
    for row in rows:
        name = row.split(",")[0]
        if name.endswith(".png") and not (root / name).exists():
            Image.fromarray((rng.random((20, 24)) * 255).astype(np.uint8), "L").save(root / name)
    manifest = root / "manifest.csv"
    manifest.write_text("\n".join([header, *rows]) + "\n")
    return manifest


def edit_rows(edit):
    """Manifest rows of :func:`make_manifest` passed through ``edit(rows)``."""
    rows = [f"img/{k:02d}.png,{'ab'[k % 2]},{['no', 'yes'][(k // 2) % 2]},{split}"
            for k, split in enumerate(["train"] * 8 + ["val"] * 4 + ["test"] * 4)]
    edit(rows)
    return rows


def replace_row(index, text):
    def edit(rows):
        rows[index] = text
    return edit


def train_args(manifest, out, *extra):
    return ["--dataset", "csv", "--data", str(manifest), "--task", "plane", "--task", "shadow",
            *TINY_OPTIONS, "--output-dir", str(out), *extra]


def tiny_h5(tmp_path, image_shape=(16, 20, 1), labels_b_offset=0, name="tiny.h5"):
    from disentangle_tf.data.hdf5 import write_hdf5
    from disentangle_tf.data.labelled_images import LabelledImages
    from disentangle_tf.data.dataset_splits import DatasetSplits
    from disentangle_tf.task_spec import TaskSpec

    data = build_random_data((("a", 2), ("b", 2)), count=8, image_shape=image_shape)
    data = LabelledImages(data.images, {"a": data.labels["a"], "b": data.labels["b"] + labels_b_offset})
    splits = DatasetSplits([TaskSpec("a", 2), TaskSpec("b", 2)], data, data, {"val": data})
    return write_hdf5(tmp_path / name, splits)


def h5_args(path, out, *extra):
    return ["--dataset", "hdf5", "--data", str(path), *TINY_OPTIONS, "--output-dir", str(out), *extra]


# Each case: (command, build(tmp_path) -> (arguments, the path that must not be created or
# must stay byte-identical), fragments the one line must contain).
def _train_manifest(rows=None, header="path,plane,shadow,split", extra=(), after=None):
    def build(tmp):
        manifest = make_manifest(tmp / "data", rows, header)
        if after is not None:
            after(tmp / "data")
        return train_args(manifest, tmp / "out", *extra), tmp / "out"
    return build


def _train_h5(extra=(), **h5):
    def build(tmp):
        return h5_args(tiny_h5(tmp, **h5), tmp / "out", *extra), tmp / "out"
    return build


def _h5_without_training_labels(tmp):
    import h5py

    path = tiny_h5(tmp)
    with h5py.File(path, "r+") as file:
        del file[f"splits/{file.attrs['train']}/labels/b"]  # the group the file trains on
    return h5_args(path, tmp / "out"), tmp / "out"


def _train_option(*extra):
    return _train_manifest(extra=extra)


def _file(path_text, content):
    def build(tmp):
        path = tmp / path_text
        path.write_bytes(content)
        return path
    return build


def _broken(name):
    def after(root):
        (root / name).write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    return after


def _remove(name):
    def after(root):
        (root / name).unlink()
    return after


def _existing_run(tmp):
    """An earlier run's directory, which bad input must leave byte-identical."""
    out = tmp / "out"
    out.mkdir()
    (out / "metrics.json").write_text('{"earlier": 1}\n')
    (out / "config.json").write_text("{}\n")
    return out


def _overwrite_with_bad_data(tmp):
    manifest = make_manifest(tmp / "data")
    (tmp / "data" / "img" / "00.png").unlink()
    return train_args(manifest, _existing_run(tmp), "--overwrite"), tmp / "out"


def _not_empty(tmp):
    manifest = make_manifest(tmp / "data")
    return train_args(manifest, _existing_run(tmp)), tmp / "out"


def _output_dir_is_a_file(tmp):
    manifest = make_manifest(tmp / "data")
    (tmp / "out").write_text("mine")
    return train_args(manifest, tmp / "out"), tmp / "out"


def _config_file(text):
    def build(tmp):
        manifest = make_manifest(tmp / "data")
        (tmp / "c.yaml").write_text(text)
        return train_args(manifest, tmp / "out", "--config", str(tmp / "c.yaml")), tmp / "out"
    return build


def _not_hdf5(tmp):
    (tmp / "fake.h5").write_text("path,plane\n")
    return h5_args(tmp / "fake.h5", tmp / "out"), tmp / "out"


def _hdf5_not_a_dataset(tmp):
    import h5py

    with h5py.File(tmp / "other.h5", "w") as file:
        file["x"] = np.zeros(3)
    return h5_args(tmp / "other.h5", tmp / "out"), tmp / "out"


TRAIN_CASES = {
    "manifest missing": (lambda tmp: (train_args(tmp / "nope.csv", tmp / "out"), tmp / "out"),
                         ["nope.csv", "manifest file not found"]),
    "image file missing": (_train_manifest(after=_remove("img/03.png")), ["line 5", "img/03.png"]),
    "image not decodable": (_train_manifest(after=_broken("img/05.png")), ["img/05.png", "cannot decode"]),
    "task column missing": (_train_manifest(extra=("--task", "organ")), ["missing column 'organ'"]),
    "split column missing": (_train_manifest(rows=[r.rsplit(",", 1)[0] for r in edit_rows(lambda r: None)],
                                             header="path,plane,shadow"), ["missing column 'split'"]),
    "validation split empty": (_train_manifest(rows=edit_rows(lambda rows: rows.__setitem__(
        slice(8, 12), [r.replace(",val", ",test") for r in rows[8:12]]))), ["split 'val' is empty"]),
    "task with one class": (_train_manifest(rows=edit_rows(lambda rows: rows.__setitem__(
        slice(None), [r.replace(",b,", ",a,") for r in rows]))), ["'plane'", "single class"]),
    "empty label cell": (_train_manifest(rows=edit_rows(replace_row(2, "img/02.png,,no,train"))),
                         ["row 3", "'plane'", "empty"]),
    "NA label cell": (_train_manifest(rows=edit_rows(replace_row(4, "img/04.png,a,NA,train"))),
                      ["row 5", "'shadow'"]),
    "unknown split value": (_train_manifest(rows=edit_rows(replace_row(1, "img/01.png,b,no,trian"))),
                            ["'trian'"]),
    "task named as a reserved column": (_train_option("--task", "path"),
                                        ["task name 'path' is reserved", "--task NAME=path"]),
    "two tasks read one column": (_train_option("--task", "plane2=plane"),
                                  ["tasks 'plane', 'plane2' read one column 'plane'"]),
    "task reads the split column": (_train_option("--task", "phase=split"),
                                    ["task 'phase' reads column 'split', which holds the splits"]),
    "header names a column twice": (_train_manifest(header="path,plane,shadow,shadow"),
                                    ["manifest.csv: the header names a column twice: 'shadow' (columns 3, 4)"]),
    "rows longer than the header": (_train_manifest(rows=[row + "," for row in edit_rows(lambda rows: None)]),
                                    ["manifest.csv: line 2 has 5 fields, the header 4"]),
    "validation fraction beside a validation split": (_train_option("--validation-fraction", "0.25"),
                                                      ["has value 'val'", "leave out validation_fraction"]),
    "validation split value of the test split": (_train_option("--val-split", "test"),
                                                 ["--test-split test: the same split value as --val-split test"]),
    "empty validation split value": (_train_option("--val-split", ""), ["--val-split ''", "--validation-fraction F"]),
    "fetal_planes_db layout with a separator": (_train_option("--layout", "fetal_planes_db", "--separator", "|"),
                                                ["--separator |: the fetal_planes_db layout reads"]),
    "fewer training images than a batch": (_train_option("--batch-size", "9"),
                                           ["training split: 8 images", "--batch-size 9"]),
    "csv without tasks": (lambda tmp: (["--dataset", "csv", "--data", str(make_manifest(tmp / "data")),
                                        *TINY_OPTIONS, "--output-dir", str(tmp / "out")], tmp / "out"),
                          ["--task"]),
    "manifest without --dataset": (lambda tmp: (["--data", str(make_manifest(tmp / "data")), "--task", "plane",
                                                 *TINY_OPTIONS, "--output-dir", str(tmp / "out")], tmp / "out"),
                                   ["--data: only with the csv or hdf5 data set; got synthetic", "--dataset"]),
    "data file not HDF5": (_not_hdf5, ["fake.h5", "not an HDF5 file"]),
    "HDF5 file of another kind": (_hdf5_not_a_dataset, ["other.h5", "not a disentangle_tf data set file"]),
    "HDF5 file missing": (lambda tmp: (h5_args(tmp / "gone.h5", tmp / "out"), tmp / "out"),
                          ["gone.h5", "no such HDF5 file"]),
    "HDF5 images of another size": (_train_h5(image_shape=(16, 24, 1)), ["16 x 24", "--image-size 16 24"]),
    "HDF5 greyscale images, --channels 3": (_train_h5(extra=("--channels", "3")),
                                            ["tiny.h5", "images have 1 channel", "--channels 1"]),
    "HDF5 colour images without --channels": (_train_h5(image_shape=(16, 20, 3)),
                                              ["tiny.h5", "images have 3 channels", "--channels 3"]),
    "synthetic with --channels 3": (lambda tmp: (["--dataset", "synthetic", "--channels", "3", *TINY_OPTIONS,
                                                  "--output-dir", str(tmp / "out")], tmp / "out"),
                                    ["--channels: only with the csv or hdf5 data set; got synthetic"]),
    "us-sim with --channels 3": (lambda tmp: (["--dataset", "us-sim", "--channels", "3", *TINY_OPTIONS,
                                               "--output-dir", str(tmp / "out")], tmp / "out"),
                                 ["--channels: only with the csv or hdf5 data set; got us-sim"]),
    "HDF5 label out of range": (_train_h5(labels_b_offset=1),
                                ["tiny.h5: training split: labels['b']", "[0, 2)"]),
    "HDF5 training split without a task's labels": (_h5_without_training_labels,
                                                    ["tiny.h5: training split: labels: missing task 'b'"]),
    "learning rate zero": (_train_option("--learning-rate", "0"), ["--learning-rate must be > 0"]),
    "learning rate negative": (_train_option("--learning-rate", "-0.1"), ["--learning-rate must be > 0"]),
    "learning rate NaN": (_train_option("--learning-rate", "nan"), ["--learning-rate", "finite"]),
    "adversarial weight negative": (_train_option("--adversarial-weight", "-1"), ["--adversarial-weight", ">= 0"]),
    "independence weight infinite": (_train_option("--independence-weight", "inf"),
                                     ["--independence-weight", "finite"]),
    "head units zero": (_train_option("--head-units", "0"), ["--head-units", ">= 1"]),
    "epochs zero": (_train_option("--epochs", "0"), ["--epochs must be >= 1"]),
    "batch size zero": (_train_option("--batch-size", "0"), ["--batch-size must be >= 1"]),
    "image size too small": (_train_option("--image-size", "8", "8"), ["--image-size must be two integers"]),
    "channels two": (_train_option("--channels", "2"), ["--channels must be one of 1, 3"]),
    "adversary steps negative": (_train_option("--adversary-steps", "-1"), ["--adversary-steps must be >= 0"]),
    "validation fraction one": (_train_option("--validation-fraction", "1"), ["--validation-fraction must be in [0, 1)"]),
    "config file unknown key": (_config_file("epoch: 3\n"), ["c.yaml", "unknown key 'epoch'"]),
    "config file NaN weight": (_config_file("adversarial_weight: .nan\n"), ["adversarial_weight", "finite"]),
    "config file momentum one": (_config_file("adversary_momentum: 1.0\n"), ["adversary_momentum", "[0, 1)"]),
    "output dir not empty": (_not_empty, ["directory is not empty"]),
    "output dir is a file": (_output_dir_is_a_file, ["out", "is a file"]),
    "overwrite with a missing image keeps the earlier run": (_overwrite_with_bad_data,
                                                             ["img/00.png", "not found"]),
}


def _convert(manifest_builder, extra=(), output_exists=False):
    def build(tmp):
        manifest = manifest_builder(tmp)
        output = tmp / "out.h5"
        if output_exists:
            output.write_bytes(b"earlier file")
        return ["--dataset", "csv", "--data", str(manifest), "--task", "plane", "--task", "shadow",
                "--image-size", "16", "20", "--output", str(output), *extra], output
    return build


def _good_manifest(tmp):
    return make_manifest(tmp / "data")


def _manifest_with_broken_image(tmp):
    manifest = make_manifest(tmp / "data")
    (tmp / "data" / "img" / "10.png").write_bytes(b"GIF89a nonsense")
    return manifest


CONVERT_CASES = {
    "output exists": (_convert(_good_manifest, output_exists=True), ["out.h5", "file exists"]),
    "output directory missing": (lambda tmp: ([*_convert(_good_manifest)(tmp)[0][:-1], str(tmp / "no" / "o.h5")],
                                              tmp / "no"), ["does not exist"]),
    "image not decodable": (_convert(_manifest_with_broken_image), ["img/10.png", "cannot decode"]),
    "task column missing": (_convert(_good_manifest, extra=("--task", "organ")), ["missing column 'organ'"]),
    "already HDF5": (lambda tmp: (["--dataset", "hdf5", "--data", str(tiny_h5(tmp)), "--output",
                                   str(tmp / "out.h5")], tmp / "out.h5"), ["already an HDF5 file"]),
}


@pytest.fixture
def saved_model(exported_run):
    return exported_run / "saved_model"


def _predict(image_builder, extra=(), output_exists=False, model=None):
    def build(tmp, saved):
        image = image_builder(tmp)
        output = tmp / "p.csv"
        if output_exists:
            output.write_text("earlier predictions\n")
        return ["--model", str(model(tmp) if model else saved), "--output", str(output), *extra, str(image)], output
    return build


def _png(tmp):
    path = tmp / "x.png"
    Image.fromarray(np.zeros((16, 16), np.uint8), "L").save(path)
    return path


PREDICT_CASES = {
    "image missing": (_predict(lambda tmp: tmp / "gone.png"), ["gone.png", "no such image file"]),
    "image not decodable": (_predict(_file("bad.png", b"\x89PNG not really")), ["bad.png", "cannot decode"]),
    "output exists": (_predict(_png, output_exists=True), ["p.csv", "file exists"]),
    "not a SavedModel": (_predict(_png, model=lambda tmp: tmp), ["not a SavedModel directory"]),
    "model missing": (_predict(_png, model=lambda tmp: tmp / "gone"), ["gone: no such directory"]),
    "model is a file": (_predict(_png, model=_png), ["--model", "x.png", "is a file"]),
    "batch size zero": (_predict(_png, extra=("--batch-size", "0")), ["--batch-size"]),
}


def _reproduce(*arguments, existing=False):
    def build(tmp):
        out = _existing_run(tmp) if existing else tmp / "out"
        return ["synthetic", "--output-dir", str(out), *arguments], out
    return build


REPRODUCE_CASES = {
    "unknown method": (_reproduce("--methods", "magic"), ["magic"]),
    "empty methods": (_reproduce("--methods", ""), ["--methods: no method named in ''"]),
    "only commas in methods": (_reproduce("--methods", " , ,"), ["--methods: no method named in ' , ,'"]),
    "bad seeds": (_reproduce("--seeds", "a-b"), ["--seeds"]),
    "epochs zero": (_reproduce("--epochs", "0"), ["--epochs must be >= 1"]),
    "output dir not empty": (_reproduce(existing=True), ["directory is not empty"]),
    "oracle selection without an unseen validation set": (
        lambda tmp: (["us-sim", "--selection", "oracle", "--output-dir", str(tmp / "out")], tmp / "out"),
        ["--selection oracle"]),
}


def snapshot(path: pathlib.Path):
    if not path.exists():
        return None
    if path.is_file():
        return path.read_bytes()
    return {p.relative_to(path): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def check_refused(code, err, fragments, before, path):
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, err
    assert "Traceback" not in err
    assert len(lines) == 1 and lines[0].startswith("Error: "), lines
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    assert snapshot(path) == before, f"{path} was written"


COMMANDS = {"train": "disentangle_tf.cli.train", "convert": "disentangle_tf.cli.convert",
            "reproduce": "disentangle_tf.cli.reproduce"}


@pytest.mark.parametrize("command, case", [(c, k) for c, cases in
                                           (("train", TRAIN_CASES), ("convert", CONVERT_CASES),
                                            ("reproduce", REPRODUCE_CASES)) for k in cases])
def test_commands_refuse_bad_input_in_one_line_writing_nothing(command, case, tmp_path, capsys):
    build, fragments = {"train": TRAIN_CASES, "convert": CONVERT_CASES, "reproduce": REPRODUCE_CASES}[command][case]
    arguments, path = build(tmp_path)
    before = snapshot(path)
    code, _, err = run_cli(COMMANDS[command], arguments, capsys)
    check_refused(code, err, fragments, before, path)


@pytest.mark.parametrize("case", list(PREDICT_CASES))
def test_predict_refuses_bad_input_in_one_line_writing_nothing(case, tmp_path, capsys, saved_model):
    from disentangle_tf.cli.predict import main

    build, fragments = PREDICT_CASES[case]
    arguments, path = build(tmp_path, saved_model)
    before = snapshot(path)
    code, _, err = run_cli(main, arguments, capsys)
    check_refused(code, err, fragments, before, path)


@pytest.mark.parametrize("case", ["output dir not empty", "output dir is a file", "manifest missing",
                                  "HDF5 file missing", "csv without tasks", "manifest without --dataset",
                                  "image file missing", "task column missing", "split column missing",
                                  "validation split empty", "task with one class", "empty label cell",
                                  "NA label cell", "unknown split value", "task named as a reserved column",
                                  "two tasks read one column", "task reads the split column",
                                  "header names a column twice", "rows longer than the header",
                                  "validation fraction beside a validation split",
                                  "validation split value of the test split", "fetal_planes_db layout with a separator"])
def test_a_refused_output_dir_or_data_file_is_the_only_line_printed(case, tmp_path, capsys):
    from disentangle_tf.cli.common import run_command
    from disentangle_tf.cli.train import main

    arguments, _ = TRAIN_CASES[case][0](tmp_path)
    capsys.readouterr()
    with pytest.raises(SystemExit) as info:
        run_command(main, [*arguments, "--quiet"], prog_name="cmd")
    captured = capsys.readouterr()
    assert info.value.code == 2
    assert captured.out == ""  # not the run's settings: the run never starts
    assert len(captured.err.strip().splitlines()) == 1


def _run_with(tmp_path, data, **overrides):
    from disentangle_tf.run.config import RunConfig
    from disentangle_tf.run.training import run

    config = RunConfig().replace({"image_size": [16, 16], "encoder_filters": [4], "encoder_strides": [2],
                                  "batch_size": 4, "epochs": 1, **overrides})
    run(config, data=data, output_dir=tmp_path / "out", verbose=0)


def _splits(train=None, validation=None):
    from disentangle_tf.data.dataset_splits import DatasetSplits
    from disentangle_tf.task_spec import TaskSpec

    data = build_random_data((("a", 2), ("b", 2)), count=8)
    train = data if train is None else train
    validation = data if validation is None else validation
    return DatasetSplits([TaskSpec("a", 2), TaskSpec("b", 2)], train, validation, {"val": validation})


def _api_config(values):
    from disentangle_tf.run.config import RunConfig

    return lambda tmp: RunConfig.from_flat_dict(values, source="settings")


def _api_empty_validation(tmp):
    empty = build_random_data((("a", 2), ("b", 2)), count=8).subset(np.zeros(8, bool))
    _run_with(tmp, _splits(validation=empty))


def _api_wrong_image_shape(tmp):
    _run_with(tmp, _splits(train=build_random_data((("a", 2), ("b", 2)), count=8, image_shape=(16, 16, 3))))


def _api_read_hdf5(tmp):
    from disentangle_tf.data.hdf5 import read_hdf5

    (tmp / "x.h5").write_text("not hdf5")
    read_hdf5(tmp / "x.h5")


def _api_load_manifest(tmp):
    from disentangle_tf.run.config import DataConfig
    from disentangle_tf.run.datasets import load_dataset

    load_dataset(DataConfig(dataset="csv", data=str(tmp / "none.csv"), tasks=("plane",)))


def _api_task_spec(tmp):
    from disentangle_tf.task_spec import TaskSpec

    TaskSpec("a", 1)


def _api_schedule(tmp):
    from disentangle_tf.run.callbacks import PenaltySchedule

    PenaltySchedule("sometimes")


def _api_load_exported(path):
    from disentangle_tf.export import load_exported_model

    return load_exported_model(path)


API_CASES = {
    "config NaN learning rate": (_api_config({"learning_rate": math.nan}), ValueError, ["learning_rate", "finite"]),
    "config zero head units": (_api_config({"head_units": [8, 0]}), ValueError, ["head_units", ">= 1"]),
    "config negative l2 weight": (_api_config({"l2_weight": -1e-5}), ValueError, ["l2_weight", ">= 0"]),
    "config string epochs": (_api_config({"epochs": "3"}), ValueError, ["epochs must be an integer"]),
    "config no encoder blocks": (_api_config({"encoder_filters": [], "encoder_strides": []}), ValueError,
                                 ["encoder_filters"]),
    "run with an empty validation split": (_api_empty_validation, ValueError, ["validation split: no images"]),
    "run with images of another shape": (_api_wrong_image_shape, ValueError, ["images", "(N, 16, 16, 1)"]),
    "read_hdf5 of a text file": (_api_read_hdf5, ValueError, ["x.h5", "not an HDF5 file"]),
    "load_dataset of a missing manifest": (_api_load_manifest, ValueError, ["none.csv", "not found"]),
    "task with one class": (_api_task_spec, ValueError, ["num_classes"]),
    "unknown penalty schedule": (_api_schedule, ValueError, ["schedule must be one of"]),
    "exported model missing": (lambda tmp: _api_load_exported(tmp / "gone"), ValueError, ["gone: no such directory"]),
    "exported model is a file": (lambda tmp: _api_load_exported(_png(tmp)), ValueError,
                                 ["x.png: is a file; expected a SavedModel directory"]),
}


@pytest.mark.parametrize("case", list(API_CASES))
def test_python_api_refuses_bad_input_in_one_line_writing_nothing(case, tmp_path):
    call, error_type, fragments = API_CASES[case]
    with pytest.raises(error_type) as info:
        call(tmp_path)
    message = str(info.value)
    assert "\n" not in message, message
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    assert not (tmp_path / "out").exists()


def test_a_manifests_rows_are_checked_without_tensorflow(tmp_path):
    # The train command checks a manifest's rows before it loads TensorFlow (seconds): a
    # missing image is refused by this check in a process that never imports it.
    import subprocess
    import sys

    manifest = make_manifest(tmp_path / "data")
    (tmp_path / "data" / "img" / "03.png").unlink()
    script = ("import sys\n"
              "from disentangle_tf.errors import ConfigError\n"
              "from disentangle_tf.run.config import DataConfig\n"
              "from disentangle_tf.run.datasets import check_data_source\n"
              f"config = DataConfig(dataset='csv', data={str(manifest)!r}, tasks=('plane', 'shadow'))\n"
              "try:\n"
              "    check_data_source(config)\n"
              "except ConfigError as error:\n"
              "    print(error)\n"
              "print('tensorflow' in sys.modules, 'keras' in sys.modules)\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    lines = result.stdout.strip().splitlines()
    assert result.returncode == 0, result.stderr
    assert "image file not found" in lines[0] and "03.png" in lines[0]
    assert lines[-1] == "False False"


def test_ctrl_c_in_a_command_exits_130_in_one_line_writing_nothing(tmp_path, capsys, monkeypatch):
    # Convert has no handler of its own: an interrupt while the images are read is said as
    # the train command says it (exit code 130), never click's "Aborted." and exit 1.
    from disentangle_tf.cli.common import run_command
    from disentangle_tf.cli.convert import main
    from disentangle_tf.run import datasets

    def interrupted(config):
        raise KeyboardInterrupt

    monkeypatch.setattr(datasets, "load_dataset", interrupted)
    manifest = make_manifest(tmp_path / "data")
    capsys.readouterr()
    with pytest.raises(SystemExit) as info:
        run_command(main, ["--dataset", "csv", "--data", str(manifest), "--task", "plane", "--task", "shadow",
                           "--image-size", "16", "20", "--output", str(tmp_path / "out.h5")], prog_name="convert")
    captured = capsys.readouterr()
    assert info.value.code == 130
    assert captured.err.strip().splitlines() == ["interrupted"]
    assert not (tmp_path / "out.h5").exists()
