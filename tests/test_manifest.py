"""Tests for CSV manifests of image files (generic layout, FETAL_PLANES_DB, DICOM)."""

from __future__ import annotations

import dataclasses
import pathlib
import warnings

import numpy as np
import pytest
import tensorflow as tf

from disentangle_tf.run.config import ConfigError
from disentangle_tf.data.manifest import (
    MISSING_VALUES,
    ManifestError,
    ManifestOptions,
    fetal_planes_db_options,
    is_missing,
    load_manifest,
    read_manifest,
)
from disentangle_tf.errors import DataWarning
from disentangle_tf.data.dataset_splits import DatasetSplits

SIZE = (16, 20)

# The small manifests here have classes with a single training image; the tests of that
# warning record it themselves.
pytestmark = pytest.mark.filterwarnings("ignore::disentangle_tf.errors.DataWarning")


def _write_png(path: pathlib.Path, seed: int, shape=(24, 30), channels: int = 1) -> np.ndarray:
    pixels = np.random.default_rng(seed).integers(0, 256, size=(*shape, channels), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(tf.io.encode_png(pixels).numpy())
    return pixels


def _expected(pixels: np.ndarray, channels: int = 1) -> np.ndarray:
    image = tf.convert_to_tensor(pixels, tf.float32)
    if image.shape[-1] != channels:
        image = tf.image.rgb_to_grayscale(image)
    image = tf.image.resize(image, SIZE, antialias=True)
    return tf.image.per_image_standardization(image).numpy()


ROWS = [  # path, split, plane, shadow
    ("img/a0.png", "train", "3VV", "with"),
    ("img/a1.png", "train", "LVOT", "without"),
    ("img/a2.png", "train", "Abd", "with"),
    ("img/a3.png", "train", "3VV", "without"),
    ("img/b0.png", "val", "LVOT", "without"),
    ("img/b1.png", "val", "Abd", "with"),
    ("img/c0.png", "test", "3VV", "with"),
]


def _write_manifest(tmp_path, rows=ROWS, header="path,split,plane,shadow", sep=",", name="manifest.csv"):
    lines = [header] + [sep.join(row) for row in rows]
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def generic(tmp_path):
    pixels = {row[0]: _write_png(tmp_path / row[0], seed=i) for i, row in enumerate(ROWS)}
    return _write_manifest(tmp_path), pixels


def test_generic_manifest_with_two_tasks(generic):
    manifest, pixels = generic
    data = load_manifest(manifest, ManifestOptions(tasks=("plane", "shadow")), image_size=SIZE)
    assert isinstance(data, DatasetSplits)
    assert [(t.name, t.class_names) for t in data.tasks] == [
        ("plane", ("3VV", "Abd", "LVOT")),  # sorted distinct labels
        ("shadow", ("with", "without")),
    ]
    assert tuple(data.evaluation) == ("val", "test")
    assert data.validation is data.evaluation["val"]
    assert [len(data.train), len(data.validation), len(data.evaluation["test"])] == [4, 2, 1]
    assert data.train.images.shape == (4, *SIZE, 1) and data.train.images.dtype == np.float32
    np.testing.assert_array_equal(data.train.labels["plane"], [0, 2, 1, 0])
    np.testing.assert_array_equal(data.train.labels["shadow"], [0, 1, 0, 1])
    assert data.train.labels["plane"].dtype == np.int64
    assert data.train.groups.tolist() == ["3VV-with", "LVOT-without", "Abd-with", "3VV-without"]
    np.testing.assert_allclose(data.train.images[2], _expected(pixels["img/a2.png"]), atol=1e-5)
    test_image = data.evaluation["test"].images[0]
    np.testing.assert_allclose(test_image, _expected(pixels["img/c0.png"]), atol=1e-5)


def test_without_options_every_other_column_is_a_task(generic):
    manifest, _ = generic
    data = load_manifest(manifest, image_size=SIZE)
    assert [t.name for t in data.tasks] == ["plane", "shadow"]
    assert tuple(data.evaluation) == ("val", "test")


def test_options_rename_columns_fix_vocabularies_and_extensions(tmp_path):
    rows = [("a0", "T", "0", "x"), ("a1", "T", "1", "y"), ("b0", "V", "1", "x"), ("c0", "E", "0", "y")]
    for i, row in enumerate(rows):
        _write_png(tmp_path / "pics" / f"{row[0]}.png", seed=i, channels=3)
    manifest = _write_manifest(tmp_path, rows, header="file\tpart\tlabel_a\tlabel_b", sep="\t")
    options = ManifestOptions(
        tasks=("a", "b"),
        task_columns={"a": "label_a", "b": "label_b"},
        path_column="file",
        split_column="part",
        separator="\t",
        extension=".png",
        class_names={"b": ("y", "x", "z")},
        split_values={"train": "T", "val": "V", "external": "E"},
        image_root="pics",
        head_units={"a": (8, 8)},
    )
    frame = read_manifest(manifest, options)
    assert frame["path"].tolist()[0] == str((tmp_path / "pics" / "a0.png").absolute())
    assert frame.attrs["class_names"] == {"a": ("0", "1"), "b": ("y", "x", "z")}
    data = load_manifest(manifest, options, image_size=SIZE, channels=3)
    assert data.train.images.shape == (2, *SIZE, 3)
    assert tuple(data.evaluation) == ("val", "external")
    assert data.tasks[0].head_units == (8, 8) and data.tasks[1].num_classes == 3
    np.testing.assert_array_equal(data.train.labels["b"], [1, 0])


def _write_fetal_planes_db(root: pathlib.Path) -> pathlib.Path:
    planes = ["Fetal brain", "Fetal abdomen", "Other"]
    lines = ["Image_name;Patient_num;Plane;Brain_plane;Operator;US_Machine;Train "]
    for i in range(36):
        name = f"Patient{i:05d}_Plane{i % 3 + 1}_1_of_1"
        plane = planes[i % 3]
        brain = "Trans-thalamic" if plane == "Fetal brain" else "Not A Brain"
        train = 1 if i < 30 else 0
        lines.append(f"{name};{i};{plane};{brain};Op. 1;Voluson E6;{train}")
        _write_png(root / "Images" / f"{name}.png", seed=i, shape=(20, 26))
    path = root / "FETAL_PLANES_DB_data.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_fetal_planes_db_layout(tmp_path):
    manifest = _write_fetal_planes_db(tmp_path)
    options = fetal_planes_db_options(validation_fraction=0.2)
    data = load_manifest(manifest, options, image_size=SIZE)
    assert data.tasks[0].name == "plane"
    assert data.tasks[0].class_names == ("Fetal abdomen", "Fetal brain", "Other")
    assert tuple(data.evaluation) == ("val", "test")
    assert [len(data.train), len(data.validation), len(data.evaluation["test"])] == [24, 6, 6]
    # The validation images are a stratified share of the training images.
    assert np.bincount(data.validation.labels["plane"], minlength=3).tolist() == [2, 2, 2]
    again = read_manifest(manifest, options)
    np.testing.assert_array_equal(again["split"], read_manifest(manifest, options)["split"])
    reseeded = fetal_planes_db_options(validation_fraction=0.2, validation_seed=1)
    other_seed = read_manifest(manifest, reseeded)
    assert not np.array_equal(again["split"], other_seed["split"])
    assert (again["split"] == "test").sum() == 6
    with pytest.raises(ConfigError, match="unknown task 'view'"):
        fetal_planes_db_options(tasks=("view",))
    two = load_manifest(manifest, fetal_planes_db_options(("plane", "brain_plane")), image_size=SIZE)
    assert [t.name for t in two.tasks] == ["plane", "brain_plane"]


# ------------------------------------------------------------------- error messages


def _error(manifest, options=None, **kwargs) -> str:
    with pytest.raises(ManifestError) as caught:
        options = options or ManifestOptions(tasks=("plane", "shadow"))
        load_manifest(manifest, options, image_size=SIZE, **kwargs)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_missing_manifest(tmp_path):
    message = _error(tmp_path / "nope.csv")
    assert "nope.csv" in message and "not found" in message


def test_missing_column_names_it_and_the_columns_present(generic):
    manifest, _ = generic
    message = _error(manifest, ManifestOptions(tasks=("plane", "organ")))
    assert "missing column 'organ'" in message
    assert "'path', 'split', 'plane', 'shadow'" in message and "manifest.csv" in message


def test_wrong_separator_is_hinted(tmp_path):
    manifest = _write_fetal_planes_db(tmp_path)
    options = fetal_planes_db_options()
    options.separator = ","
    message = _error(manifest, options)
    assert "missing column 'Image_name'" in message and "separator ';'" in message


def test_unknown_label_names_row_column_value_and_classes(generic):
    manifest, _ = generic
    options = ManifestOptions(tasks=("plane", "shadow"), class_names={"plane": ("3VV", "LVOT")})
    message = _error(manifest, options)
    assert "manifest.csv row 3 (line 4)" in message
    assert "column 'plane'" in message and "'Abd'" in message and "'3VV', 'LVOT'" in message


def test_unknown_split_value_and_empty_label(tmp_path):
    rows = [list(row) for row in ROWS]
    rows[5][1] = "validation"
    message = _error(_write_manifest(tmp_path, [tuple(r) for r in rows]))
    assert "row 6 (line 7)" in message and "'validation'" in message
    assert "'train', 'val', 'test'" in message
    rows[5][1], rows[2][3] = "val", ""
    message = _error(_write_manifest(tmp_path, [tuple(r) for r in rows]))
    assert "row 3 (line 4)" in message and "column 'shadow'" in message and "empty" in message


def test_empty_split_is_named(generic, tmp_path):
    manifest, _ = generic
    values = {"train": "train", "val": "val", "test": "test", "unseen": "unseen"}
    options = ManifestOptions(tasks=("plane", "shadow"), split_values=values)
    message = _error(manifest, options)
    assert "split 'unseen' is empty" in message and "'unseen' in column 'split'" in message


def test_missing_image_names_row_and_path(generic):
    manifest, _ = generic
    (manifest.parent / "img" / "b1.png").unlink()
    message = _error(manifest)
    assert "row 6 (line 7)" in message and str(manifest.parent / "img" / "b1.png") in message


def test_corrupt_image_names_row_and_file(generic):
    manifest, _ = generic
    (manifest.parent / "img" / "a3.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    message = _error(manifest)
    assert "row 4 (line 5)" in message and "a3.png" in message and "cannot decode" in message


def test_option_errors():
    with pytest.raises(ConfigError, match="not both"):
        ManifestOptions(tasks=("a",), validation_fraction=0.1, split_values={"train": "1", "val": "2"})
    with pytest.raises(ConfigError, match="'train'"):
        ManifestOptions(tasks=("a",), split_values={"val": "v"})
    with pytest.raises(ConfigError, match="task name"):
        ManifestOptions(tasks=("2nd",))
    with pytest.raises(ConfigError, match="validation_fraction"):
        ManifestOptions(tasks=("a",), validation_fraction=1.5)
    assert "val" not in ManifestOptions(tasks=("a",), validation_fraction=0.1).split_values


# --------------------------------------------------------- missing values, warnings


MARKERS = ["", "NA", "NaN", "nan", "N/A", "NULL", "None", "null", "#N/A", " na ", "n/A"]


def test_is_missing_knows_every_marker_and_nothing_else():
    cells = ["NA", "nan", "N/A", "NULL", "None", "#N/A", "", "  ", "na ", "3VV", "NAN", "Nan", "No",
             "0", "none of these", "n.a."]
    expected = [True] * 9 + [False] + [True, True] + [False] * 4
    np.testing.assert_array_equal(is_missing(cells), expected)
    assert MISSING_VALUES == {"", "na", "nan", "n/a", "null", "none", "#n/a"}


@pytest.mark.parametrize("marker", MARKERS)
def test_missing_label_marker_is_refused_like_an_empty_cell(generic, marker):
    manifest, _ = generic
    rows = [list(row) for row in ROWS]
    rows[2][3] = marker
    message = _error(_write_manifest(manifest.parent, [tuple(r) for r in rows]))
    assert "row 3 (line 4)" in message and "column 'shadow' (task 'shadow')" in message
    if marker.strip():
        assert f"is missing: {marker.strip()!r} marks a missing value" in message
    else:
        assert "is empty" in message


@pytest.mark.parametrize("column, marker", [(1, "NA"), (1, ""), (0, "nan"), (0, "")])
def test_missing_split_or_path_is_refused_naming_row_and_column(generic, column, marker):
    manifest, _ = generic
    rows = [list(row) for row in ROWS]
    rows[4][column] = marker
    message = _error(_write_manifest(manifest.parent, [tuple(r) for r in rows]))
    assert "row 5 (line 6)" in message and f"column {('path', 'split')[column]!r}" in message
    assert ("is empty" if not marker else f"is missing: {marker!r}") in message


def _caught(manifest, options) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        read_manifest(manifest, options)
    assert all(issubclass(w.category, DataWarning) for w in caught), [str(w.message) for w in caught]
    messages = [str(w.message) for w in caught]
    assert all("\n" not in m for m in messages)
    return messages


def test_classes_with_fewer_than_two_training_images_are_warned_about(generic):
    manifest, _ = generic
    # Training has 3VV twice, LVOT and Abd once; shadow 'with' and 'without' twice.
    messages = _caught(manifest, ManifestOptions(tasks=("plane", "shadow")))
    # Each names the row of its one image (a label spelt wrong in one row looks like this).
    row = {plane: k + 1 for k, (_, split, plane, _) in reversed(list(enumerate(ROWS))) if split == "train"}
    assert sorted(messages) == [
        f"{manifest}: task 'plane': class 'Abd' has 1 training image (fewer than 2: row {row['Abd']} "
        f"(line {row['Abd'] + 1}))",
        f"{manifest}: task 'plane': class 'LVOT' has 1 training image (fewer than 2: row {row['LVOT']} "
        f"(line {row['LVOT'] + 1}))",
    ]


def test_class_absent_from_training_is_warned_about(tmp_path):
    rows = [(f"img/{k}.png", "train", "ab"[k % 2], "x") for k in range(6)]
    rows += [("img/v0.png", "val", "a", "x"), ("img/v1.png", "val", "c", "x"), ("img/t0.png", "test", "c", "y")]
    rows += [("img/7.png", "train", "b", "y"), ("img/8.png", "train", "a", "y")]
    for row in rows:
        _write_png(tmp_path / row[0], seed=0)
    manifest = _write_manifest(tmp_path, rows)
    messages = _caught(manifest, ManifestOptions(tasks=("plane", "shadow")))
    assert messages == [
        f"{manifest}: task 'plane': class 'c' has no training image but appears in 'val' (1 image), 'test' (1 image) "
        "(first: row 8 (line 9))"
    ]


def test_class_names_that_differ_only_in_case_are_warned_about(tmp_path):
    rows = [(f"img/{k}.png", "train", ("3VV", "LVOT", "3vv", "LVOT ")[k % 4], "x") for k in range(8)]
    rows += [("img/v0.png", "val", "3VV", "x"), ("img/v1.png", "val", "LVOT", "y"), ("img/t0.png", "test", "3VV", "x")]
    for row in rows:
        _write_png(tmp_path / row[0], seed=0)
    manifest = _write_manifest(tmp_path, rows)
    messages = _caught(manifest, ManifestOptions(tasks=("plane",)))
    lookalikes = [m for m in messages if "differ only in case" in m]
    # Surrounding spaces are read away ('LVOT ' is 'LVOT'); case is kept, and warned about.
    assert len(lookalikes) == 1 and lookalikes[0].startswith(f"{manifest}: task 'plane': classes ")
    assert ("'3VV' and '3vv' (first in row 1 (line 2) and row 3 (line 4))" in lookalikes[0]
            or "'3vv' and '3VV' (first in row 3 (line 4) and row 1 (line 2))" in lookalikes[0])


@pytest.mark.parametrize("seed", [0, 1])
# Decoded into memory; checked and read on demand; or the training split streamed and the others in memory
# (6 training images of SIZE float32 do not fit, the 6 others do), where constant images of both kinds of
# split are still one warning.
@pytest.mark.parametrize("memory_budget", [None, 0, 6 * SIZE[0] * SIZE[1] * 4])
def test_constant_images_are_warned_about_naming_the_first_row_and_file(tmp_path, seed, memory_budget):
    rng = np.random.default_rng(seed)
    rows = [(f"img/{k}.png", ["train", "train", "val", "test"][k % 4], "ab"[k % 2], "xy"[k // 4 % 2]) for k in range(12)]
    if memory_budget:  # at least one constant image streamed and one in memory
        train, other = ([k for k, row in enumerate(rows) if (row[1] == "train") == kind] for kind in (True, False))
        flat = sorted({int(rng.choice(train)), int(rng.choice(other)), int(rng.integers(len(rows)))})
    else:
        flat = sorted(rng.choice(len(rows), size=int(rng.integers(1, 4)), replace=False).tolist())
    for k, row in enumerate(rows):
        if k in flat:
            shape = (1, 1) if rng.random() < 0.5 else tuple(rng.integers(2, 30, size=2))
            path = tmp_path / row[0]
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(tf.io.encode_png(np.full((*shape, 1), rng.integers(256), np.uint8)).numpy())
        else:
            _write_png(tmp_path / row[0], seed=k)
    manifest = _write_manifest(tmp_path, rows)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = load_manifest(manifest, ManifestOptions(tasks=("plane", "shadow")), image_size=SIZE,
                             memory_budget=memory_budget)
    notes = [str(w.message) for w in caught if "is constant" in str(w.message)]
    others = len(flat) - 1
    more = f", as are the images of {others} other row{'s' if others > 1 else ''}" if others else ""
    assert notes == [f"{manifest} row {flat[0] + 1} (line {flat[0] + 2}): image {tmp_path / rows[flat[0]][0]} is "
                     f"constant (every pixel the same){more}: such an image is read as zeros and tells the model "
                     "nothing; check the files"]
    # Read as zeros, exactly; the other images are not.
    for name, split in [("train", data.train), *data.evaluation.items()]:
        members = [k for k, row in enumerate(rows) if row[1] == name]
        images = np.asarray(split.images)
        assert [k for k, image in zip(members, images) if not np.any(image)] == [k for k in members if k in flat]


# ------------------------------------------------------------------------ groups


def _write_grouped(root: pathlib.Path, groups, planes, splits, name="manifest.csv") -> pathlib.Path:
    """A manifest of rows (group, plane, split); every row lists a tiny PNG of its own."""
    for index in range(len(groups)):
        if not (root / f"img{index}.png").exists():
            _write_png(root / f"img{index}.png", seed=index, shape=(16, 20))
    lines = ["path,patient,plane,split"] + [
        f"img{index}.png,{g},{p},{s}" for index, (g, p, s) in enumerate(zip(groups, planes, splits))
    ]
    path = root / name
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("seed", range(6))
def test_carved_validation_keeps_groups_whole_and_takes_about_the_fraction(tmp_path, seed):
    rng = np.random.default_rng(100 + seed)
    fraction = [0.1, 0.2, 0.3][seed % 3]
    groups, planes, splits = [], [], []
    for group in range(int(rng.integers(30, 60))):
        size, plane = int(rng.integers(1, 7)), "ABC"[int(rng.integers(3))]
        split = "test" if rng.random() < 0.15 else "train"
        for _ in range(size):
            groups.append(f"P{group}")
            planes.append(plane)
            splits.append(split)
    order = rng.permutation(len(groups))  # rows of a group need not be adjacent
    groups, planes, splits = (np.array(v)[order] for v in (groups, planes, splits))
    planes[:3] = "A", "B", "C"  # every class is present
    manifest = _write_grouped(tmp_path, groups, planes, splits)
    options = ManifestOptions(tasks=("plane",), group_column="patient", validation_fraction=fraction,
                              validation_seed=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        frame = read_manifest(manifest, options)
        again = read_manifest(manifest, options)
    split = frame["split"].to_numpy()
    np.testing.assert_array_equal(split, again["split"])  # deterministic for a seed
    np.testing.assert_array_equal(split == "test", splits == "test")  # given splits untouched
    in_train, in_val = set(groups[split == "train"]), set(groups[split == "val"])
    assert in_val and not in_train & in_val
    largest = max(np.unique(groups, return_counts=True)[1])
    given_train = splits == "train"
    assert abs((split == "val").sum() - fraction * given_train.sum()) <= largest / 2 + 1
    for plane in "ABC":  # stratified: each plane gives up about its share
        rows = given_train & (planes == plane)
        assert abs((split[rows] == "val").sum() - fraction * rows.sum()) <= largest + 1


def test_one_row_groups_carve_as_rows_do(tmp_path):
    rng = np.random.default_rng(3)
    planes = rng.choice(list("ABC"), size=50)
    manifest = _write_grouped(tmp_path, [f"P{k}" for k in range(50)], planes, ["train"] * 45 + ["test"] * 5)
    by_group = ManifestOptions(tasks=("plane",), group_column="patient", validation_fraction=0.2)
    by_row = ManifestOptions(tasks=("plane",), validation_fraction=0.2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        grouped = read_manifest(manifest, by_group)["split"].to_numpy()
        np.testing.assert_array_equal(grouped, read_manifest(manifest, by_row)["split"].to_numpy())
    assert (grouped == "val").sum() == 9


def test_fetal_planes_db_carves_by_patient_by_default(tmp_path):
    planes = ["Fetal brain", "Fetal abdomen", "Other"]
    lines = ["Image_name;Patient_num;Plane;Brain_plane;Operator;US_Machine;Train "]
    patients = []
    for patient in range(24):
        for frame_number in range(1, 4):  # several frames of one plane per patient
            name = f"Patient{patient:05d}_Plane1_{frame_number}_of_3"
            train = int(patient < 20)
            lines.append(f"{name};{patient};{planes[patient % 3]};Not A Brain;Op. 1;Voluson E6;{train}")
            _write_png(tmp_path / "Images" / f"{name}.png", seed=0, shape=(16, 20))
            patients.append(patient)
    manifest = tmp_path / "FETAL_PLANES_DB_data.csv"
    manifest.write_text("\n".join(lines) + "\n")
    options = fetal_planes_db_options(validation_fraction=0.2)
    assert options.group_column == "Patient_num"
    patients = np.array(patients)
    for seed in range(4):
        options.validation_seed = seed
        split = read_manifest(manifest, options)["split"].to_numpy()
        in_val = set(patients[split == "val"])
        assert in_val and not in_val & set(patients[split == "train"])
        assert (split == "val").sum() == 3 * len(in_val) == 12  # 20 training patients, a fifth


def test_configuration_names_the_group_column():
    from disentangle_tf.run.config import DataConfig
    from disentangle_tf.run.datasets import manifest_options

    fetal = DataConfig(dataset="csv", data="m.csv", layout="fetal_planes_db")
    assert manifest_options(fetal).group_column == "Patient_num"
    assert manifest_options(dataclasses.replace(fetal, group_column="Subject")).group_column == "Subject"
    generic = DataConfig(dataset="csv", data="m.csv", tasks=("plane",))
    assert manifest_options(generic).group_column is None
    assert manifest_options(dataclasses.replace(generic, group_column="patient")).group_column == "patient"


def test_group_column_errors(generic):
    manifest, _ = generic
    message = _error(manifest, ManifestOptions(tasks=("plane", "shadow"), group_column="patient"))
    assert "missing column 'patient'" in message and "'path', 'split', 'plane', 'shadow'" in message
    for cell, state in (("", "is empty"), ("NULL", "is missing: 'NULL'")):
        groups = ["p1", "p2", "p3", cell, "p5", "p6", "p7"]
        lines = ["path,split,plane,shadow,patient"] + [",".join(r) + f",{g}" for r, g in zip(ROWS, groups)]
        manifest.write_text("\n".join(lines) + "\n")
        message = _error(manifest, ManifestOptions(tasks=("plane", "shadow"), group_column="patient"))
        assert "row 4 (line 5)" in message and "column 'patient' (group)" in message and state in message


def test_group_in_training_and_a_given_split_is_warned_about(tmp_path):
    groups = ["P1", "P1", "P2", "P2", "P3", "P1", "P4", "P2"]
    planes = ["A", "B", "A", "B", "A", "B", "A", "B"]
    splits = ["train"] * 4 + ["val", "test", "test", "val"]
    manifest = _write_grouped(tmp_path, groups, planes, splits)
    messages = _caught(manifest, ManifestOptions(tasks=("plane",), group_column="patient"))
    assert messages == [
        f"{manifest}: 1 group(s) of column 'patient' have rows in split 'train' and in split 'val' "
        "(first: 'P2'); 'val' is not independent of training",
        f"{manifest}: 1 group(s) of column 'patient' have rows in split 'train' and in split 'test' "
        "(first: 'P1'); 'test' is not independent of training",
    ]


def test_carving_that_leaves_no_training_group_is_refused(tmp_path):
    manifest = _write_grouped(tmp_path, ["P1"] * 6 + ["P2"], list("ABABABA"), ["train"] * 6 + ["test"])
    options = ManifestOptions(tasks=("plane",), group_column="patient", validation_fraction=0.7)
    message = _error(manifest, options)
    assert "split 'train' is empty" in message and "1 groups of column 'patient'" in message


# -------------------------------------------------------------------------- DICOM


def _write_dicom(path: pathlib.Path, pixels: np.ndarray, photometric: str = "MONOCHROME2") -> None:
    pydicom = pytest.importorskip("pydicom")
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    ultrasound_image_storage = "1.2.840.10008.5.1.4.1.1.6.1"
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ultrasound_image_storage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    dataset = Dataset()
    dataset.file_meta = meta
    dataset.SOPClassUID = ultrasound_image_storage
    dataset.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    dataset.Modality = "US"
    dataset.Rows, dataset.Columns = pixels.shape
    dataset.SamplesPerPixel = 1
    dataset.PhotometricInterpretation = photometric
    dataset.BitsAllocated = dataset.BitsStored = 16
    dataset.HighBit = 15
    dataset.PixelRepresentation = 0
    dataset.PixelData = pixels.astype("<u2").tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    pydicom.dcmwrite(path, dataset, enforce_file_format=True)


def test_dicom_images(generic):
    pytest.importorskip("pydicom")
    manifest, _ = generic
    pixels = np.random.default_rng(5).integers(0, 4000, size=(22, 28)).astype(np.uint16)
    _write_dicom(manifest.parent / "img" / "d0.dcm", pixels)
    _write_dicom(manifest.parent / "img" / "d1.dcm", pixels, photometric="MONOCHROME1")
    with manifest.open("a") as stream:
        stream.write("img/d0.dcm,train,Abd,without\nimg/d1.dcm,test,Abd,without\n")
    data = load_manifest(manifest, ManifestOptions(tasks=("plane", "shadow")), image_size=SIZE)
    assert len(data.train) == 5
    expected = _expected(pixels[..., None].astype(np.float32))
    np.testing.assert_allclose(data.train.images[4], expected, atol=1e-4)
    # MONOCHROME1 stores bright as low: it is inverted.
    np.testing.assert_allclose(data.evaluation["test"].images[1], -expected, atol=1e-4)

    (manifest.parent / "img" / "d0.dcm").write_bytes(b"DICM? no")
    message = _error(manifest)
    assert "row 8 (line 9)" in message and "d0.dcm" in message and "DICOM" in message


def test_dicom_without_pydicom_asks_for_the_extra(generic, monkeypatch):
    from disentangle_tf.data import dicom

    manifest, _ = generic
    _write_dicom(manifest.parent / "img" / "d0.dcm", np.zeros((4, 5), np.uint16))
    with manifest.open("a") as stream:
        stream.write("img/d0.dcm,train,Abd,without\n")
    monkeypatch.setattr(dicom, "pydicom_module", lambda: None)
    with pytest.raises(ManifestError) as caught:
        read_manifest(manifest, ManifestOptions(tasks=("plane", "shadow")))
    message = str(caught.value)
    assert "pip install disentangle_tf[dicom]" in message and "d0.dcm" in message
    assert "row 8 (line 9)" in message


def test_compressed_dicom_without_decoder_is_refused_by_read_manifest(generic):
    pytest.importorskip("pydicom")
    from pydicom.encaps import encapsulate
    from pydicom.pixels import get_decoder
    from pydicom.uid import JPEGLosslessSV1

    if get_decoder(JPEGLosslessSV1).is_available:
        pytest.skip("a JPEG Lossless decoder is installed here")
    manifest, _ = generic
    path = manifest.parent / "img" / "d0.dcm"
    _write_dicom(path, np.zeros((4, 5), np.uint16))
    dataset = pytest.importorskip("pydicom").dcmread(path)
    dataset.file_meta.TransferSyntaxUID = JPEGLosslessSV1
    dataset.PixelData = encapsulate([b"\xff\xd8\xff\xd9"])
    dataset.save_as(path, enforce_file_format=True)
    with manifest.open("a") as stream:
        stream.write("img/d0.dcm,train,Abd,without\n")
    with pytest.raises(ManifestError) as caught:
        read_manifest(manifest, ManifestOptions(tasks=("plane", "shadow")))
    message = str(caught.value)
    assert message.startswith(f"{manifest} row 8 (line 9): {path}: pixel data is JPEG Lossless")
    assert "1.2.840.10008.1.2.4.70" in message and "pip install pylibjpeg pylibjpeg-libjpeg" in message
    assert "\n" not in message


# ------------------------------------------------------------------- partial labels
def _with_cells(directory, cells):
    """ROWS with ``cells[(row, column)]`` replaced, written beside the fixture's images."""
    rows = [list(row) for row in ROWS]
    for (row, column), value in cells.items():
        rows[row][column] = value
    return _write_manifest(directory, [tuple(r) for r in rows])


def test_missing_labels_allowed_are_minus_one_and_not_a_class(generic):
    manifest, _ = generic
    path = _with_cells(manifest.parent, {(1, 2): "NA", (4, 3): "", (6, 2): "nan"})
    options = ManifestOptions(tasks=("plane", "shadow"), missing_labels="allow")
    frame = read_manifest(path, options)
    np.testing.assert_array_equal(frame["plane"], [0, -1, 1, 0, 2, 1, -1])  # 3VV, Abd, LVOT
    np.testing.assert_array_equal(frame["shadow"], [0, 1, 0, 1, -1, 0, 0])
    assert frame.attrs["class_names"] == {"plane": ("3VV", "Abd", "LVOT"), "shadow": ("with", "without")}
    data = load_manifest(path, options, image_size=SIZE)
    np.testing.assert_array_equal(data.train.labels["plane"], [0, -1, 1, 0])
    assert list(data.train.groups) == ["3VV-with", "?-without", "Abd-with", "3VV-without"]
    assert list(data.evaluation["val"].groups) == ["LVOT-?", "Abd-with"]


def test_missing_labels_are_refused_by_default_naming_the_option(generic):
    manifest, _ = generic
    message = _error(_with_cells(manifest.parent, {(1, 2): "NA"}))
    assert message.endswith(
        "row 2 (line 3): column 'plane' (task 'plane') is missing: 'NA' marks a missing value; every image "
        "needs a label for every task (pass --missing-labels allow for partial labels)")


def test_a_row_without_any_label_or_a_task_without_any_label_is_refused(generic):
    manifest, _ = generic
    allow = ManifestOptions(tasks=("plane", "shadow"), missing_labels="allow")
    message = _error(_with_cells(manifest.parent, {(3, 2): "", (3, 3): "N/A"}), allow)
    assert "row 4 (line 5): every label column is missing ('plane', 'shadow')" in message
    message = _error(_with_cells(manifest.parent, {(r, 3): "NA" for r in range(len(ROWS))}), allow)
    assert "column 'shadow' (task 'shadow') has no label (every cell is missing); a task needs at least two" in message
    with pytest.raises(ConfigError, match="missing_labels must be one of refuse, allow; got 'skip'"):
        ManifestOptions(tasks=("plane",), missing_labels="skip")


def test_rare_class_warnings_do_not_count_missing_labels(generic):
    manifest, _ = generic
    # Training planes: 3VV, missing, missing, 3VV; Abd and LVOT are in val/test only.
    path = _with_cells(manifest.parent, {(1, 2): "NA", (2, 2): ""})
    messages = _caught(path, ManifestOptions(tasks=("plane", "shadow"), missing_labels="allow"))
    plane = [m for m in messages if "task 'plane'" in m]
    assert len(plane) == 2 and all("has no training image" in m for m in plane)
    # No warning names the missing-label marker as a class (the messages also hold the
    # manifest's path, which may contain any digits).
    assert not any("class '?'" in m or "class '-1'" in m or "class -1" in m for m in messages)


def test_fetal_planes_db_options_pass_missing_labels_on():
    assert fetal_planes_db_options(missing_labels="allow").missing_labels == "allow"
    assert fetal_planes_db_options().missing_labels == "refuse"


@pytest.mark.parametrize("seed", range(4))
def test_image_files_listed_twice_are_warned_about_by_split(tmp_path, seed):
    rng = np.random.default_rng(seed)
    count = 12
    for index in range(count):
        _write_png(tmp_path / f"f{index}.png", seed=index, shape=(16, 20))
    # Rows: every file once in a random split, then some files again in a random split.
    splits = ["train"] * 6 + list(rng.choice(["train", "val", "test"], size=count - 6))
    files = list(range(count)) + list(rng.choice(count, size=int(rng.integers(1, 6)), replace=False))
    splits += list(rng.choice(["train", "val", "test"], size=len(files) - count))
    splits, files = [str(s) for s in splits], [int(f) for f in files]
    planes = ["AB"[i % 2] for i in range(len(files))]
    lines = ["path,plane,split"] + [f"f{f}.png,{p},{s}" for f, p, s in zip(files, planes, splits)]
    manifest = tmp_path / "m.csv"
    manifest.write_text("\n".join(lines) + "\n")
    messages = [m for m in _caught(manifest, ManifestOptions(tasks=("plane",))) if "image file(s)" in m]

    expected = []
    in_train = {f for f, s in zip(files, splits) if s == "train"}
    for name in dict.fromkeys(s for s in splits if s != "train"):
        shared = [f for f in dict.fromkeys(f for f, s in zip(files, splits) if s == name) if f in in_train]
        if shared:
            expected.append(f"{manifest}: {len(shared)} image file(s) are listed in split 'train' and in split "
                            f"{name!r} (first: {tmp_path / f'f{shared[0]}.png'}); {name!r} is not independent "
                            "of training")
    rows = {}
    for row, key in enumerate(zip(splits, files), start=1):
        rows.setdefault(key, []).append(row)
    twice = [(key, found) for key, found in rows.items() if len(found) > 1]
    if twice:
        (name, f), found = twice[0]
        expected.append(f"{manifest}: {len(twice)} image file(s) are listed more than once within a split "
                        f"(first: {tmp_path / f'f{f}.png'}, rows {found[0]} and {found[1]}, both in split "
                        f"{name!r}); each row counts as an image of its own")
    assert messages == expected


def test_a_directory_where_an_image_file_is_expected_is_named_as_such(generic):
    manifest, _ = generic
    lines = manifest.read_text().splitlines()
    first = lines[1].split(",")[0]
    path = manifest.parent / first
    path.unlink()
    path.mkdir()
    message = _error(manifest)
    assert message == f"{manifest} row 1 (line 2): {path} is a directory; expected an image file"


def test_a_column_whose_name_is_not_a_task_name_is_read_as_the_task_named_for_it(generic, tmp_path):
    from disentangle_tf.run.config import DataConfig
    from disentangle_tf.run.datasets import load_csv

    manifest, _ = generic
    spaced = tmp_path / "spaced.csv"
    lines = manifest.read_text().splitlines()
    spaced.write_text("\n".join(["path,split,Plane type,shadow"] + lines[1:]) + "\n")
    config = DataConfig(dataset="csv", data=str(spaced), tasks=("plane=Plane type", "shadow"), image_size=(24, 30))
    renamed = load_csv(config)
    original = load_csv(DataConfig(dataset="csv", data=str(manifest), tasks=("plane", "shadow"), image_size=(24, 30)))
    assert [t.name for t in renamed.tasks] == ["plane", "shadow"]
    assert [t.class_names for t in renamed.tasks] == [t.class_names for t in original.tasks]
    np.testing.assert_array_equal(renamed.train.labels["plane"], original.train.labels["plane"])
    # Without a name, the column's own name is refused with the way to name it.
    with pytest.raises(ConfigError, match=r"task name 'Plane type'.*--task NAME=COLUMN"):
        load_csv(DataConfig(dataset="csv", data=str(spaced), tasks=("Plane type", "shadow"), image_size=(24, 30)))
