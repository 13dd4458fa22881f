"""Training end to end, through the command line run in this process, on every kind of data
set (tiny, with the tests' method: these tests are about the data, not the method)."""

import json

import numpy as np
import pytest

from conftest import RESULTS_ONLY, TINY_METHOD

# The data sets are the point: one training of the recommended setting, not the default's grid.
TINY = ["--method", "recommended", "--image-size", "16", "20", "--epochs", "1", "--batch-size", "8",
        "--adversary-steps", "1", "--head-units", "8", "--quiet"]
TINY_ENCODER = {"encoder_filters": [4, 8], "encoder_strides": [2, 2], "stem_filters": 4, **TINY_METHOD,
                **RESULTS_ONLY}


@pytest.fixture()
def encoder_config(tmp_path):
    path = tmp_path / "encoder.json"
    path.write_text(json.dumps(TINY_ENCODER))
    return path


def write_png(path, bright_left: bool, white: bool):
    import tensorflow as tf

    image = np.full((24, 30, 1), 230 if white else 20, np.uint8)
    columns = slice(2, 12) if bright_left else slice(18, 28)
    image[6:18, columns] = 128
    path.parent.mkdir(parents=True, exist_ok=True)
    tf.io.write_file(str(path), tf.io.encode_png(image))


def make_png_set(root, count=36):
    """PNG files with two tasks: where the square is, and the background."""
    rng = np.random.default_rng(0)
    rows = []
    for k in range(count):
        side, background = int(rng.integers(2)), int(rng.integers(2))
        write_png(root / "images" / f"img{k:03d}.png", bool(side), bool(background))
        split = "train" if k < 24 else ("val" if k < 30 else "test")
        rows.append((f"images/img{k:03d}", ("right", "left")[side], ("dark", "bright")[background], split))
    return rows


def check_run(out, splits, tasks):
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics) == set(splits)
    for split, values in metrics.items():
        assert set(values["accuracy"]) <= set(tasks) and values["accuracy"]
    assert (out / "model.keras").is_file()
    return metrics


def test_us_sim(tmp_path, encoder_config, run_module, eager_runs):
    out = tmp_path / "run"
    result = run_module("disentangle_tf.train", "--dataset", "us-sim", "--scale", "0.04",
                        "--config", encoder_config, *TINY, "--output-dir", out)
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = check_run(out, ["val", "test_seen", "lvot_with_shadow", "others"], ["plane", "shadow"])
    assert set(metrics["others"]["accuracy"]) == {"shadow"}  # no plane label on other planes
    assert set(metrics["test_seen"]["class_accuracy"]["plane"]) == {"3VV", "LVOT", "Abd"}


def test_digits_texture(tmp_path, encoder_config, run_module):
    out = tmp_path / "run"
    # About a thousand training images: batches of 50 (the last --batch-size counts) keep the epoch short.
    result = run_module("disentangle_tf.train", "--dataset", "digits-texture", "--config", encoder_config, *TINY,
                        "--batch-size", 50, "--output-dir", out)
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = check_run(out, ["val", "test", "unseen"], ["digit", "texture"])
    assert set(metrics["test"]["class_accuracy"]["digit"]) == {"0", "1", "2", "3", "4"}
    assert metrics["unseen"]["images"] == 56  # the flower-texture 3s: two renderings of 28 source images


def test_csv_manifest_then_hdf5(tmp_path, encoder_config, run_module, eager_runs):
    rows = make_png_set(tmp_path)
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("file,side,background,part\n" + "".join(f"{p}.png,{s},{b},{t}\n" for p, s, b, t in rows))
    options = ["--dataset", "csv", "--data", manifest, "--task", "side", "--task", "background",
               "--path-column", "file", "--split-column", "part"]
    out = tmp_path / "run"
    result = run_module("disentangle_tf.train", *options, "--config", encoder_config, *TINY, "--output-dir", out)
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = check_run(out, ["val", "test"], ["side", "background"])
    assert metrics["test"]["images"] == 6

    h5 = tmp_path / "data.h5"
    converted = run_module("disentangle_tf.convert", *options, "--image-size", 16, 20, "--output", h5)
    assert converted.returncode == 0, converted.stderr[-3000:]
    again = run_module("disentangle_tf.convert", *options, "--image-size", 16, 20, "--output", h5)
    assert again.returncode == 2 and "refusing to overwrite" in again.stderr

    out = tmp_path / "from_hdf5"
    result = run_module("disentangle_tf.train", "--dataset", "hdf5", "--data", h5, "--config", encoder_config,
                        *TINY, "--output-dir", out)
    assert result.returncode == 0, result.stderr[-3000:]
    check_run(out, ["val", "test"], ["side", "background"])
    wrong_size = run_module("disentangle_tf.train", "--dataset", "hdf5", "--data", h5, "--image-size", 32, 40,
                            "--output-dir", tmp_path / "wrong")
    assert wrong_size.returncode == 2 and "pass --image-size 16 20" in wrong_size.stderr


def test_fetal_planes_db_layout(tmp_path, encoder_config, run_module, eager_runs):
    planes = ["Fetal brain", "Fetal abdomen", "Fetal femur"]
    lines = ["Image_name;Patient_num;Plane;Brain_plane;Operator;US_Machine;Train "]
    for k in range(40):
        plane = planes[k % 3]
        write_png(tmp_path / "Images" / f"Patient{k:05d}_Plane1_1_of_1.png", k % 3 == 0, k % 2 == 0)
        lines.append(f"Patient{k:05d}_Plane1_1_of_1;{k};{plane};Other;Op. 1;Voluson E6;{int(k < 30)}")
    manifest = tmp_path / "FETAL_PLANES_DB_data.csv"
    manifest.write_text("\n".join(lines) + "\n")
    out = tmp_path / "run"
    result = run_module("disentangle_tf.train", "--dataset", "csv", "--layout", "fetal_planes_db",
                        "--data", manifest, "--config", encoder_config, *TINY, "--output-dir", out)
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = check_run(out, ["val", "test"], ["plane"])
    assert metrics["test"]["images"] == 10
    # --quiet: the settings and the results, no progress rows.
    printed = result.stdout.splitlines()
    assert any(line.startswith("data      csv") for line in printed)
    assert any(line.startswith("accuracy ") for line in printed)
    assert not any(line.startswith("epoch ") for line in printed)
    assert set(metrics["test"]["class_accuracy"]["plane"]) <= set(planes)


@pytest.mark.parametrize("problem, fragment", [
    ("missing_column", "column"),
    ("missing_image", "img000"),
    ("unknown_split", "column 'part' has value 'training'; expected one of: 'train', 'val', 'test' (to score its "
                      "rows as an evaluation split of their own: --test-split training)"),
])
def test_bad_manifest_stops_before_training(tmp_path, problem, fragment, run_module):
    rows = make_png_set(tmp_path)
    header = "file,side,background,part\n"
    body = "".join(f"{p}.png,{s},{b},{t}\n" for p, s, b, t in rows)
    if problem == "missing_column":
        header = header.replace("background", "bg")
    elif problem == "missing_image":
        (tmp_path / "images" / "img000.png").unlink()
    elif problem == "unknown_split":
        body = body.replace(",train\n", ",training\n", 1)
    manifest = tmp_path / "manifest.csv"
    manifest.write_text(header + body)
    out = tmp_path / "run"
    result = run_module("disentangle_tf.train", "--dataset", "csv", "--data", manifest, "--task", "side",
                        "--task", "background", "--path-column", "file", "--split-column", "part",
                        "--output-dir", out)
    assert result.returncode == 2, result.stderr[-3000:]
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and fragment in lines[0] and str(manifest) in lines[0], lines
    assert not (out / "metrics.json").exists() and not (out / "model.keras").exists()


def write_patient_set(root):
    """Three identical frames per patient (a pattern of its own), one task; patient 12 is
    the single image of class 'c'."""
    import tensorflow as tf

    lines = ["file,patient,view,part"]
    for patient in [*range(12), 12]:
        image = np.full((24, 30, 1), 20, np.uint8)
        row, column = divmod(patient, 4)
        image[row * 6:row * 6 + 6, column * 7:column * 7 + 7] = 220
        (root / "images").mkdir(exist_ok=True)
        view = "c" if patient == 12 else "ab"[patient % 2]
        part = "test" if patient in (10, 11) else "train"
        for frame in range(1 if patient == 12 else 3):  # a file per frame, the frames alike
            name = f"images/p{patient:02d}_{frame}.png"
            tf.io.write_file(str(root / name), tf.io.encode_png(image))
            lines.append(f"{name},{patient},{view},{part}")
    manifest = root / "manifest.csv"
    manifest.write_text("\n".join(lines) + "\n")
    return manifest


def test_group_column_option_keeps_patients_out_of_validation(tmp_path, run_module):
    from disentangle_tf.data.hdf5 import read_hdf5

    manifest = write_patient_set(tmp_path)
    options = ["--dataset", "csv", "--data", manifest, "--task", "view", "--path-column", "file",
               "--split-column", "part", "--val-split", "", "--validation-fraction", "0.25",
               "--image-size", 16, 20]
    h5 = tmp_path / "data.h5"
    result = run_module("disentangle_tf.convert", *options, "--group-column", "patient", "--output", h5)
    assert result.returncode == 0, result.stderr[-3000:]
    data = read_hdf5(h5)
    val, train = data.validation.images, data.train.images
    assert len(val) and len(val) % 3 == 0  # whole patients of three frames
    distance = np.abs(val[:, None] - train[None]).max(axis=(2, 3, 4))
    assert distance.min() > 0.5  # no validation patient has a frame in training
    # The class with a single training image is one warning line, not a traceback.
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Warning: ") and "class 'c'" in lines[0], lines

    missing = run_module("disentangle_tf.convert", *options, "--group-column", "patient_id",
                         "--output", tmp_path / "other.h5")
    assert missing.returncode == 2, missing.stderr[-3000:]
    lines = [line for line in missing.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "missing column 'patient_id'" in lines[0] and "'patient'" in lines[0], lines
    assert not (tmp_path / "other.h5").exists()
