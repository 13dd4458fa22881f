"""Tests for storing a whole data set in one HDF5 file."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from disentangle_tf.run.config import DataConfig
from disentangle_tf.data import ultrasound_sim
from disentangle_tf.data.hdf5 import FORMAT, HDF5FormatError, read_hdf5, write_hdf5
from disentangle_tf.data.dataset_splits import DatasetSplits
from disentangle_tf.run.datasets import load_synthetic


@pytest.fixture(scope="module")
def us_sim() -> DatasetSplits:
    return ultrasound_sim.load_us_sim((16, 20), seed=0, scale=0.01)


def _assert_same(read: DatasetSplits, written: DatasetSplits) -> None:
    assert read.tasks == written.tasks
    assert tuple(read.evaluation) == tuple(written.evaluation)
    pairs = [(read.train, written.train), (read.validation, written.validation)]
    pairs += [(read.evaluation[name], data) for name, data in written.evaluation.items()]
    for got, expected in pairs:
        assert got.images.dtype == np.float32
        np.testing.assert_array_equal(got.images, expected.images)
        assert set(got.labels) == set(expected.labels)
        for task, values in expected.labels.items():
            assert got.labels[task].dtype == np.int64
            np.testing.assert_array_equal(got.labels[task], values)
        assert dict(got.class_names) == dict(expected.class_names)
        np.testing.assert_array_equal(got.groups, expected.groups)


def test_round_trip_of_the_ultrasound_simulation(tmp_path, us_sim):
    path = write_hdf5(tmp_path / "us.h5", us_sim)
    data = read_hdf5(path)
    _assert_same(data, us_sim)
    assert data.tasks[0].head_units == (256, 256) and data.tasks[1].class_names == ("without", "with")
    assert data.validation is data.evaluation["val"]
    assert set(data.evaluation["others"].labels) == {"shadow"}
    with h5py.File(path, "r") as file:
        assert file.attrs["format"] == FORMAT
        assert file["splits/train/images"].chunks == (1, 16, 20, 1)
        assert sorted(file["splits"]) == sorted(["train", *us_sim.evaluation])


def test_round_trip_compressed_with_an_unnamed_validation_split(tmp_path):
    synthetic = load_synthetic(DataConfig(image_size=(16, 16), seed=0))
    small = DatasetSplits(
        tasks=synthetic.tasks,
        train=synthetic.train.subset(np.arange(10)),
        validation=synthetic.validation.subset(np.arange(4)),
        evaluation={"test": synthetic.evaluation["test"].subset(np.arange(3))},
    )
    data = read_hdf5(write_hdf5(tmp_path / "small.h5", small, compression="gzip"))
    _assert_same(data, small)
    np.testing.assert_array_equal(data.validation.images, small.validation.images)
    assert tuple(data.evaluation) == ("test",)


def test_refuses_to_overwrite(tmp_path, us_sim):
    path = tmp_path / "us.h5"
    path.write_text("precious")
    with pytest.raises(FileExistsError, match="refusing to overwrite") as caught:
        write_hdf5(path, us_sim)
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)
    assert path.read_text() == "precious"
    assert list(tmp_path.iterdir()) == [path]


def test_missing_and_foreign_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.h5"):
        read_hdf5(tmp_path / "nope.h5")
    text = tmp_path / "text.h5"
    text.write_text("not hdf5")
    with pytest.raises(HDF5FormatError, match="text.h5: not an HDF5 file"):
        read_hdf5(text)
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as file:
        file["x"] = np.zeros(3)
    with pytest.raises(HDF5FormatError, match="other.h5: not a disentangle_tf data set file"):
        read_hdf5(other)


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda f: f.attrs.__delitem__("tasks"), "missing root attribute 'tasks'"),
        (lambda f: f.attrs.__setitem__("evaluation", "[oops"), "'evaluation' is not valid JSON"),
        (lambda f: f.__delitem__("splits/test_seen"), "missing group 'splits/test_seen'"),
        (lambda f: f.__delitem__("splits/val/images"), "missing splits/val/images"),
        (lambda f: f.__delitem__("splits/train/labels"), "missing splits/train/labels"),
        (lambda f: f.attrs.__setitem__("format_version", 99), "format version 99 is newer"),
    ],
)
def test_malformed_files_name_the_file_and_what_is_missing(tmp_path, us_sim, damage, message):
    path = write_hdf5(tmp_path / "us.h5", us_sim)
    with h5py.File(path, "a") as file:
        damage(file)
    with pytest.raises(HDF5FormatError, match=message) as caught:
        read_hdf5(path)
    assert str(caught.value).startswith(str(path)) and "\n" not in str(caught.value)


def test_labels_of_the_wrong_length_are_reported(tmp_path, us_sim):
    path = write_hdf5(tmp_path / "us.h5", us_sim)
    with h5py.File(path, "a") as file:
        del file["splits/train/labels/plane"]
        file["splits/train/labels/plane"] = np.zeros(2, dtype=np.int64)
    with pytest.raises(HDF5FormatError, match=r"split 'train': labels\['plane'\]"):
        read_hdf5(path)


def test_missing_labels_survive_the_file(tmp_path):
    from disentangle_tf.data.labelled_images import LabelledImages
    from disentangle_tf.task_spec import TaskSpec

    images = np.arange(5 * 4 * 4, dtype=np.float32).reshape(5, 4, 4, 1)
    train = LabelledImages(images, {"a": np.array([0, -1, 1, 1, 0]), "b": np.array([1, 0, -1, 0, 1])})
    others = LabelledImages(images[:2], {"a": np.array([-1, -1]), "b": np.array([0, 1])})
    data = DatasetSplits(tasks=[TaskSpec("a", 2), TaskSpec("b", 2)], train=train, validation=train,
                         evaluation={"val": train, "others": others})
    read = read_hdf5(write_hdf5(tmp_path / "partial.h5", data))
    np.testing.assert_array_equal(read.train.labels["a"], [0, -1, 1, 1, 0])
    np.testing.assert_array_equal(read.evaluation["others"].labels["a"], [-1, -1])

    with h5py.File(tmp_path / "partial.h5", "r+") as file:
        file["splits/others/labels/b"][0] = -2
    with pytest.raises(HDF5FormatError, match=r"split 'others': labels\['b'\]: class indices must be >= 0, or -1"):
        read_hdf5(tmp_path / "partial.h5")
