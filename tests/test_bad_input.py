"""Bad input through the Python API: a ValueError or TypeError with one clear line; through
the commands (run in this process): one line and exit code 2."""

import numpy as np
import pytest

from conftest import build_random_data, build_tiny_model
from disentangle_tf.data import LabelledImages


def one_line(error_info, fragment):
    message = str(error_info.value)
    assert "\n" not in message and fragment in message, message


def test_mismatched_array_shapes():
    with pytest.raises(ValueError) as info:
        LabelledImages(np.zeros((4, 8, 8, 1), np.float32), {"a": np.zeros(3, np.int64)})
    one_line(info, "expected shape (4,) to match 4 images")
    with pytest.raises(ValueError) as info:
        LabelledImages(np.zeros((4, 8, 8), np.float32), {"a": np.zeros(4, np.int64)})
    one_line(info, "expected an array of shape (N, H, W, C)")
    with pytest.raises(ValueError) as info:
        LabelledImages(np.zeros((2, 8, 8, 1), np.float32), {"a": np.array([0.5, 1.0])})
    one_line(info, "expected integer class indices")


def test_labels_out_of_range_and_wrong_image_size_are_refused_before_training():
    model = build_tiny_model(("a", "b"))  # classes: a 2, b 3
    model.compile(adversary_steps=1, run_eagerly=True)
    data = build_random_data(("a", "b"), count=8)
    labels = dict(data.labels)
    labels["b"] = labels["b"] + 1  # 3 is out of range for three classes
    with pytest.raises(ValueError) as info:
        model.fit(data.images, labels, batch_size=4, verbose=0)
    one_line(info, "labels['b']: class indices must be in [0, 3)")
    one_line(info, "found 1..3")
    with pytest.raises(ValueError) as info:
        model.fit(np.zeros((8, 12, 12, 1), np.float32), data.labels, batch_size=4, verbose=0)
    one_line(info, "expected shape (N, 16, 16, 1)")
    assert int(model.optimizer.iterations) == 0


def test_run_refuses_labels_out_of_range(tmp_path):
    from disentangle_tf.run.config import RunConfig
    from disentangle_tf.data.dataset_splits import DatasetSplits
    from disentangle_tf.task_spec import TaskSpec
    from disentangle_tf.run.training import run

    data = build_random_data(("a", "b"), count=8)
    splits = DatasetSplits(tasks=[TaskSpec("a", 2), TaskSpec("b", 2)], train=data, validation=data,
                           evaluation={"val": data})
    config = RunConfig().replace({"image_size": [16, 16], "encoder_filters": [4], "encoder_strides": [2],
                                  "batch_size": 4, "epochs": 1})
    with pytest.raises(ValueError) as info:
        run(config, data=splits, output_dir=tmp_path / "out", verbose=0)
    one_line(info, "labels['b']: class indices must be in [0, 2)")
    one_line(info, "found 0..2")
    assert not (tmp_path / "out").exists()  # nothing written, not even config.json


def test_task_and_compile_arguments():
    from disentangle_tf.models import TaskSpec

    with pytest.raises(ValueError) as info:
        TaskSpec("bad name", 2)
    one_line(info, "expected letters, digits and underscores")
    model = build_tiny_model(("a", "b"))
    with pytest.raises(ValueError) as info:
        model.compile(adversary_batches="sometimes")
    one_line(info, "adversary_batches must be one of fresh, same")
    with pytest.raises(ValueError) as info:
        model.compile(adversarial_objective="max")
    one_line(info, "adversarial_objective must be one of")


def test_exported_model_wrong_shape_or_dtype(tmp_path):
    from disentangle_tf.export import export_saved_model, load_exported_model

    model = build_tiny_model(("a", "b"))
    export_saved_model(model, tmp_path / "sm")
    with pytest.raises(FileExistsError):
        export_saved_model(model, tmp_path / "sm")
    served = load_exported_model(tmp_path / "sm")
    good = np.zeros((2, 16, 16, 1), np.float32)
    outputs = served(good)
    assert outputs["a_probabilities"].shape == (2, 2)
    with pytest.raises(ValueError) as info:
        served(np.zeros((2, 16, 17, 1), np.float32))
    one_line(info, "expected a batch of shape (N, 16, 16, 1)")
    one_line(info, "got (2, 16, 17, 1)")
    with pytest.raises(ValueError) as info:
        served(np.zeros((2, 16, 16, 1), np.int32))
    one_line(info, "expected a float32 batch, got dtype int32")
    with pytest.raises(ValueError) as info:
        load_exported_model(tmp_path)
    one_line(info, "not a SavedModel directory")


def test_output_dir_that_cannot_be_created(tmp_path, run_module):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    for target, fragment in ((blocker, "is a file"), (blocker / "sub", "cannot create")):
        result = run_module("disentangle_tf.train", "--output-dir", target)
        assert result.returncode == 2, result.stderr
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and fragment in lines[0], lines
    assert blocker.read_text() == "not a directory"


@pytest.mark.parametrize("content, fragment", [
    ("epochs: [1, 2]\n", "epochs must be an integer"),
    ("image_size: [8, 8]\n", "image_size must be two integers"),
    ("image_size: [40, 40]\nencoder_strides: [2, 2, 2, 2, 2, 2]\n", "smaller than the encoder's total stride 64"),
    ("dataset: csv\n", "c.yaml: the csv data set needs a file: pass --data (or set data in the config file)"),
    (": : :\n", "not valid YAML or JSON"),
])
def test_bad_config_files_through_the_command_line(tmp_path, content, fragment, run_module):
    config = tmp_path / "c.yaml"
    config.write_text(content)
    result = run_module("disentangle_tf.train", "--config", config, "--output-dir", tmp_path / "out")
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and fragment in lines[0], lines
    assert not (tmp_path / "out").exists()


def test_predict_corrupt_and_missing_images(tmp_path, run_module, exported_run):
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG but not really")
    for image, fragment in ((corrupt, "cannot decode"), (tmp_path / "missing.png", "no such image file")):
        result = run_module("disentangle_tf.predict", "--model", exported_run / "saved_model", "--output",
                            tmp_path / "p.csv", image)
        assert result.returncode == 2, result.stderr
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and fragment in lines[0] and str(image) in lines[0], lines
        assert not (tmp_path / "p.csv").exists()
