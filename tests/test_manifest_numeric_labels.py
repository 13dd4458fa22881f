"""Labels of a manifest's task column that spell one number (``1``, ``1.0``, ``01``,
``" 1 "``, as a spreadsheet round trip leaves them) are one class, in every split alike;
labels that may or may not be one number are refused in one line naming both."""

import json
import pathlib

import numpy as np
import pytest
from PIL import Image

from disentangle_tf.data.manifest import ManifestError, ManifestOptions, load_manifest, read_manifest
from disentangle_tf.data.manifest_cells import class_name

pytestmark = pytest.mark.filterwarnings("ignore::disentangle_tf.errors.DataWarning")


def write_manifest(root: pathlib.Path, rows, header="path,split,grade,shadow", sep=",") -> pathlib.Path:
    """A manifest of ``rows`` (split, grade, shadow), each with its own tiny PNG."""
    (root / "img").mkdir(parents=True, exist_ok=True)
    lines = [header]
    for k, (split, grade, shadow) in enumerate(rows):
        pixels = (np.random.default_rng(k).random((12, 14)) * 255).astype(np.uint8)
        Image.fromarray(pixels, "L").save(root / f"img/{k}.png")
        lines.append(sep.join([f"img/{k}.png", split, grade, shadow]))
    manifest = root / "m.csv"
    manifest.write_text("\n".join(lines) + "\n")
    return manifest


#: Training rows spell 1 and 2 as a spreadsheet may; validation and test rows otherwise.
ROUND_TRIP = [("train", "1", "x"), ("train", "2", "y"), ("train", "1.0", "y"), ("train", " 01 ", "x"),
              ("train", "2.00", "x"), ("train", "+2", "y"), ("train", "1e0", "x"), ("train", "02", "y"),
              ("val", "1.0", "x"), ("val", "2", "y"), ("test", "01", "y"), ("test", "2.0", "x")]
EXPECTED = [0, 1, 0, 0, 1, 1, 0, 1, 0, 1, 0, 1]


def test_spellings_of_one_number_are_one_class_in_every_split(tmp_path):
    manifest = write_manifest(tmp_path, ROUND_TRIP)
    frame = read_manifest(manifest, ManifestOptions(tasks=("grade", "shadow")))
    assert frame.attrs["class_names"]["grade"] == ("1", "2")
    assert list(frame["grade"]) == EXPECTED
    data = load_manifest(manifest, ManifestOptions(tasks=("grade", "shadow")), image_size=(16, 16))
    grade = next(task for task in data.tasks if task.name == "grade")
    assert (grade.num_classes, grade.class_names) == (2, ("1", "2"))
    # The training, validation and test labels index the same two classes.
    assert list(data.train.labels["grade"]) == EXPECTED[:8]
    assert list(data.evaluation["val"].labels["grade"]) == EXPECTED[8:10]
    assert list(data.evaluation["test"].labels["grade"]) == EXPECTED[10:]


@pytest.mark.parametrize("labels, classes", [
    (["10", "9", "2.5", "9.0", "010"], ("2.5", "9", "10")),  # numeric order, shortest spellings
    ([".50", "0.5", "-0", "0", "1E3", "1000.000"], ("0", "0.5", "1000")),
    (["b", "1", "a", "1.0"], ("1", "a", "b")),  # numbers among names: each number once
    (["LVOT", "3VV", "lvot2"], ("3VV", "LVOT", "lvot2")),  # names as written
])
def test_class_names_and_their_order(tmp_path, labels, classes):
    rows = [("train", label, "xy"[k % 2]) for k, label in enumerate(labels)]
    rows += [("val", labels[0], "x"), ("test", labels[-1], "y")]
    frame = read_manifest(write_manifest(tmp_path, rows), ManifestOptions(tasks=("grade",)))
    assert frame.attrs["class_names"]["grade"] == classes


def test_given_class_names_match_every_spelling_of_their_number(tmp_path):
    rows = [("train", "1.0", "x"), ("train", "00", "y"), ("val", "01", "x"), ("test", "0.0", "y")]
    manifest = write_manifest(tmp_path, rows)
    frame = read_manifest(manifest, ManifestOptions(tasks=("grade",), class_names={"grade": ("0", "1")}))
    assert list(frame["grade"]) == [1, 0, 1, 0] and frame.attrs["class_names"]["grade"] == ("0", "1")
    with pytest.raises(ManifestError, match=r"class_names of task 'grade' \('1', '1.0'\) name one number twice"):
        read_manifest(manifest, ManifestOptions(tasks=("grade",), class_names={"grade": ("1", "1.0")}))


@pytest.mark.parametrize("second, fragment", [
    ("1,0", "has label '1,0', which looks like label '1' of row 1: with a decimal comma"),
    ("1.0000000000000000001", "has label '1.0000000000000000001', which looks like label '1' of row 1: they are "
                              "one number once stored as a spreadsheet stores numbers (double precision)"),
])
def test_labels_that_may_or_may_not_be_one_number_are_refused_naming_both(tmp_path, second, fragment):
    rows = [("train", "1", "x"), ("train", "2", "y"), ("train", second, "y"), ("val", "2", "x"), ("test", "2", "y")]
    manifest = write_manifest(tmp_path, rows, header="path;split;grade;shadow", sep=";")
    with pytest.raises(ManifestError) as info:
        read_manifest(manifest, ManifestOptions(tasks=("grade",), separator=";"))
    message = str(info.value)
    assert message.startswith(f"{manifest} row 3 (line 4): column 'grade' (task 'grade') ") and fragment in message
    assert "\n" not in message
    # A decimal comma that no other label's number matches is a label as written.
    rows[0] = ("train", "3", "x")
    frame = read_manifest(write_manifest(tmp_path, rows, "path;split;grade;shadow", ";"),
                          ManifestOptions(tasks=("grade",), separator=";"))
    assert set(frame.attrs["class_names"]["grade"]) == {"2", "3", class_name(second)}


def test_one_number_spelt_two_ways_is_not_two_classes(tmp_path):
    rows = [("train", "1", "x"), ("train", "1.0", "y"), ("val", "01", "x"), ("test", "+1", "y")]
    with pytest.raises(ManifestError, match="has a single class '1'; a task needs at least two"):
        read_manifest(write_manifest(tmp_path, rows), ManifestOptions(tasks=("grade",)))


def test_a_model_trained_on_a_round_tripped_manifest_has_one_output_per_number(tmp_path, capsys):
    from disentangle_tf.cli.common import run_command
    from disentangle_tf.cli.train import main
    from disentangle_tf.export import load_exported_model

    manifest = write_manifest(tmp_path, ROUND_TRIP)
    out = tmp_path / "run"
    # A tiny encoder (two blocks, not the default six): the point is the classes, not the network.
    encoder = tmp_path / "encoder.json"
    encoder.write_text(json.dumps({"encoder_filters": [4, 8], "encoder_strides": [2, 2], "stem_filters": 4}))
    arguments = ["--dataset", "csv", "--data", str(manifest), "--task", "grade", "--task", "shadow",
                 "--config", str(encoder), "--image-size", "16", "16", "--epochs", "1", "--batch-size", "4",
                 "--method", "paper", "--adversary-steps", "1", "--head-units", "4", "--output-dir", str(out),
                 "--quiet"]
    run_command(main, arguments, prog_name="train")
    metadata = json.loads((out / "saved_model" / "disentangle_tf.json").read_text())
    tasks = {task["name"]: task for task in metadata["tasks"]}
    assert tasks["grade"]["num_classes"] == 2 and tasks["grade"]["class_names"] == ["1", "2"]
    served = load_exported_model(out)
    batch = np.random.default_rng(0).normal(size=(3, 16, 16, 1)).astype("float32")
    assert served(batch)["grade_probabilities"].shape == (3, 2)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test"]["labelled"]["grade"] == 2  # both test rows, spelt 01 and 2.0, are scored
