"""Data larger than memory: images read on demand, the memory budget, streamed pipelines."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest
from PIL import Image

from conftest import build_tiny_model, clone_model, values
from disentangle_tf.data import pipeline
from disentangle_tf.data.dataset_splits import DatasetSplits
from disentangle_tf.data.hdf5 import read_hdf5, write_hdf5
from disentangle_tf.data.labelled_images import LabelledImages
from disentangle_tf.data.manifest import ManifestError, load_manifest
from disentangle_tf.data.pipeline import make_evaluation_dataset, make_training_dataset
from disentangle_tf.data.streaming import (LazyImages, check_memory_budget, default_memory_budget,
                                           streamed_splits)
from disentangle_tf.models import TaskSpec

SHAPE = (16, 20, 1)
TASKS = [TaskSpec("a", 2), TaskSpec("b", 3)]


def _split(count: int, seed: int) -> LabelledImages:
    """Random images; labels with a rare combination (a=1 with b=2) for group-balanced draws."""
    rng = np.random.default_rng(seed)
    a = (np.arange(count) % 4 == 0).astype("int64")
    b = np.where(a == 1, np.arange(count) % 3, 0).astype("int64")
    return LabelledImages(
        images=rng.normal(size=(count, *SHAPE)).astype("float32"),
        labels={"a": a, "b": b},
        groups=np.array([f"g{k % 3}" for k in range(count)]),
    )


@pytest.fixture
def written(tmp_path):
    """A data set (train 24, val 8, test 6 images) and the HDF5 file it was written to."""
    splits = DatasetSplits(tasks=TASKS, train=_split(24, 0), validation=_split(8, 1),
                           evaluation={})
    splits.evaluation = {"val": splits.validation, "test": _split(6, 2)}
    return splits, write_hdf5(tmp_path / "data.h5", splits)


class CountingSource:
    """A source of images ``k`` filled with ``k``, recording every read."""

    def __init__(self, count: int):
        self.shape = (count, 2, 3, 1)
        self.reads = []

    def read(self, rows):
        self.reads.append(np.array(rows))
        return np.broadcast_to(np.asarray(rows, "float32")[:, None, None, None], (len(rows), 2, 3, 1)).copy()


def _filled(rows):
    return np.broadcast_to(np.asarray(rows, "float32")[:, None, None, None], (len(rows), 2, 3, 1))


# ------------------------------------------------------------------------ lazy images


def test_selections_are_lazy_views_and_reads_are_sorted_and_distinct():
    source = CountingSource(10)
    images = LazyImages(source)
    assert images.shape == (10, 2, 3, 1) and images.ndim == 4 and images.dtype == np.float32
    assert len(images) == 10 and images.nbytes == 10 * 6 * 4

    mask = np.arange(10) % 3 == 0
    views = {"slice": images[7:1:-2], "array": images[[4, 1, 1, 9]], "mask": images[mask],
             "nested": images[2:][[3, 0]]}
    assert all(isinstance(view, LazyImages) for view in views.values())
    assert source.reads == []  # selecting decodes nothing
    np.testing.assert_array_equal(np.asarray(views["slice"]), _filled([7, 5, 3]))
    np.testing.assert_array_equal(np.asarray(views["array"]), _filled([4, 1, 1, 9]))
    np.testing.assert_array_equal(np.asarray(views["mask"]), _filled([0, 3, 6, 9]))
    np.testing.assert_array_equal(np.asarray(views["nested"]), _filled([5, 2]))
    np.testing.assert_array_equal(source.reads[1], [1, 4, 9])  # increasing, each row once
    for rows in source.reads:
        assert np.all(np.diff(rows) > 0)

    np.testing.assert_array_equal(images[-1], _filled([9])[0])
    batch = images.read(np.array([[2, 2], [0, 5]]))
    assert batch.shape == (2, 2, 2, 3, 1) and batch.dtype == np.float32
    np.testing.assert_array_equal(batch[:, :, 0, 0, 0], [[2, 2], [0, 5]])


def test_bad_selections_are_refused():
    images = LazyImages(CountingSource(4))
    with pytest.raises(IndexError):
        images[4]
    with pytest.raises(IndexError):
        images[np.array([True, False])]
    with pytest.raises(IndexError):
        images[[0, 7]]
    with pytest.raises(TypeError, match="first axis"):
        images[:, 0]


def test_hdf5_source_pickles_and_copies_after_reading(written):
    splits, path = written
    images = read_hdf5(path, memory_budget=0).train.images
    expected = splits.train.images
    np.testing.assert_array_equal(images[3], expected[3])  # the file is now open in this object
    for other in (pickle.loads(pickle.dumps(images[5:])), copy.deepcopy(images[5:]), copy.copy(images)[5:]):
        assert isinstance(other, LazyImages)
        np.testing.assert_array_equal(np.asarray(other), expected[5:])


def test_subset_stays_lazy(written):
    splits, path = written
    train = read_hdf5(path, memory_budget=0).train
    chosen = train.labels["a"] == 1
    subset = train.subset(chosen)
    assert isinstance(subset.images, LazyImages) and len(subset) == int(chosen.sum())
    np.testing.assert_array_equal(np.asarray(subset.images), splits.train.images[chosen])
    np.testing.assert_array_equal(subset.labels["b"], splits.train.labels["b"][chosen])
    np.testing.assert_array_equal(subset.groups, splits.train.groups[chosen])


# ---------------------------------------------------------------------- memory budget


def test_budget_streams_the_largest_splits_until_the_rest_fit(written):
    splits, path = written
    one_image = int(np.prod(SHAPE)) * 4  # train 24 images, val 8, test 6
    expected = {"train": splits.train, "val": splits.validation, "test": splits.evaluation["test"]}
    for budget, lazy in ((None, set()), (38 * one_image, set()), (37 * one_image, {"train"}),
                         (14 * one_image, {"train"}), (13 * one_image, {"train", "val"}), (0, set(expected))):
        data = read_hdf5(path, memory_budget=budget)
        read = {"train": data.train, "val": data.validation, "test": data.evaluation["test"]}
        assert {name for name, split in read.items() if isinstance(split.images, LazyImages)} == lazy, budget
        assert data.validation is data.evaluation["val"]
        for name, split in read.items():
            np.testing.assert_array_equal(np.asarray(split.images), expected[name].images)
            np.testing.assert_array_equal(split.labels["a"], expected[name].labels["a"])


def test_streamed_splits_counts_each_split_once_and_breaks_ties_by_order():
    assert streamed_splits({"train": 10, "val": 5, "test": 5}, 20) == set()
    assert streamed_splits({"train": 10, "val": 5, "test": 5}, 9) == {"train", "val"}
    assert streamed_splits({"x": 4, "y": 4}, 5) == {"x"}
    assert streamed_splits({"train": 10}, None) == set()


@pytest.mark.parametrize("budget", [-1, "2GB", float("nan"), float("inf"), True, [1]])
def test_bad_budget_is_refused_naming_it(written, tmp_path, budget):
    _, path = written
    with pytest.raises(ValueError, match="^memory_budget: expected a number of bytes >= 0 or None"):
        check_memory_budget(budget)
    with pytest.raises(ValueError, match="memory_budget"):
        read_hdf5(path, memory_budget=budget)
    with pytest.raises(ValueError, match="memory_budget"):
        load_manifest(tmp_path / "not-read.csv", memory_budget=budget)


def test_default_budget_is_half_of_the_physical_memory_at_most():
    import os

    physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    budget = default_memory_budget()
    assert isinstance(budget, int) and 0 < budget <= physical // 2
    assert check_memory_budget(budget) == budget


# ----------------------------------------------------------------------- manifests


def _write_manifest(tmp_path, broken: str | None = None):
    """PNGs of assorted sizes and a manifest (train 6, val 3, test 2 rows); ``broken`` names
    the split of a row whose file is a PNG signature followed by garbage."""
    rng = np.random.default_rng(0)
    rows = ["path,split,a,b"]
    splits = ["train"] * 6 + ["val"] * 3 + ["test"] * 2
    for index, split in enumerate(splits):
        name = f"{index:02d}.png"
        shape = (24, 30) if index % 2 else (40, 36)
        Image.fromarray(rng.integers(0, 256, size=shape, dtype=np.uint8)).save(tmp_path / name)
        rows.append(f"{name},{split},{'xy'[index % 2]},{'pqr'[index % 3]}")
    if broken:
        (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
        rows.append(f"broken.png,{broken},x,p")
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("\n".join(rows) + "\n")
    return manifest


@pytest.mark.parametrize("channels", [1, 3])
def test_streamed_manifest_decodes_the_images_the_loaded_one_holds(tmp_path, channels):
    manifest = _write_manifest(tmp_path)
    loaded = load_manifest(manifest, image_size=(16, 20), channels=channels)
    streamed = load_manifest(manifest, image_size=(16, 20), channels=channels, memory_budget=0)
    pairs = [(streamed.train, loaded.train)]
    pairs += [(streamed.evaluation[name], loaded.evaluation[name]) for name in ("val", "test")]
    for got, expected in pairs:
        assert isinstance(got.images, LazyImages) and isinstance(expected.images, np.ndarray)
        assert got.images.shape == expected.images.shape == (len(expected), 16, 20, channels)
        np.testing.assert_array_equal(np.asarray(got.images), expected.images)
        np.testing.assert_array_equal(got.labels["a"], expected.labels["a"])
        np.testing.assert_array_equal(got.groups, expected.groups)
    # One image, and a shuffled selection with repeats, as the pipeline reads them.
    np.testing.assert_array_equal(streamed.train.images[4], loaded.train.images[4])
    np.testing.assert_array_equal(streamed.train.images.read([5, 0, 5]), loaded.train.images[[5, 0, 5]])
    # Decoded inside the training pipeline, batch by batch.
    arguments = dict(batch_size=2, adversary_steps=1, seed=2, device=None, epochs=2)
    _assert_same_batches(_batches(make_training_dataset(streamed.train, **arguments), 6),
                         _batches(make_training_dataset(loaded.train, **arguments), 6))
    # Only the training split (6 of 11 images) is streamed when the rest fits.
    partly = load_manifest(manifest, image_size=(16, 20), channels=channels,
                           memory_budget=5 * 16 * 20 * channels * 4)
    assert isinstance(partly.train.images, LazyImages)
    assert isinstance(partly.validation.images, np.ndarray)
    np.testing.assert_array_equal(partly.validation.images, loaded.validation.images)


def test_a_streamed_manifest_converts_to_hdf5_block_by_block(monkeypatch, tmp_path):
    from disentangle_tf.data import hdf5

    manifest = _write_manifest(tmp_path)
    loaded = load_manifest(manifest, image_size=(16, 20))
    streamed = load_manifest(manifest, image_size=(16, 20), memory_budget=0)
    monkeypatch.setattr(hdf5, "_WRITE_BLOCK", 4)
    reads = []
    original = LazyImages.read
    monkeypatch.setattr(LazyImages, "read", lambda self, indices=None: reads.append(len(indices))
                        or original(self, indices))
    data = read_hdf5(write_hdf5(tmp_path / "converted.h5", streamed))
    assert sorted(reads) == [2, 2, 3, 4]  # train 6 = 4 + 2, val 3, test 2: never a whole split at once
    for got, expected in ((data.train, loaded.train), (data.validation, loaded.validation),
                          (data.evaluation["test"], loaded.evaluation["test"])):
        np.testing.assert_array_equal(got.images, expected.images)
        np.testing.assert_array_equal(got.labels["b"], expected.labels["b"])


def test_an_undecodable_file_of_a_streamed_split_is_named_when_loading(tmp_path):
    manifest = _write_manifest(tmp_path, broken="train")
    with pytest.raises(ManifestError, match=r"row 12 \(line 13\): cannot decode image .*broken\.png"):
        load_manifest(manifest, image_size=(16, 20), memory_budget=0)


# ------------------------------------------------------------------------ pipelines


def _batches(dataset, steps: int) -> list:
    """The first ``steps`` elements as flat lists of numpy arrays (images, then labels)."""
    flat = []
    for element in dataset.take(steps):
        parts = element if isinstance(element[0], tuple) else (element,)
        flat.append([array for x, y in parts for array in (x.numpy(), *(y[t].numpy() for t in sorted(y)))])
    return flat


def _assert_same_batches(first, second):
    assert len(first) == len(second) > 0
    for one, other in zip(first, second):
        assert len(one) == len(other)
        for a, b in zip(one, other):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("adversary_steps, sampling", [(0, "uniform"), (2, "uniform"), (2, "group_balanced")])
def test_streamed_training_batches_equal_the_in_memory_ones(written, adversary_steps, sampling):
    splits, path = written
    streamed = read_hdf5(path, memory_budget=0).train
    assert isinstance(streamed.images, LazyImages)
    arguments = dict(batch_size=5, adversary_steps=adversary_steps, flip=True, seed=3, device=None,
                     epochs=3, sampling=sampling)
    in_memory = _batches(make_training_dataset(splits.train, **arguments), 12)
    from_file = _batches(make_training_dataset(streamed, **arguments), 12)
    _assert_same_batches(from_file, in_memory)
    assert len(in_memory) == 12  # 4 steps in each of 3 epochs
    # The images are those of the labels' indices (flipped or not), not a constant.
    images, labels_a = in_memory[0][0], in_memory[0][1]
    assert images.shape == (5, *SHAPE) and labels_a.shape == (5,)
    assert not np.array_equal(images[0], images[1])
    if adversary_steps:
        assert in_memory[0][3].shape == (5, adversary_steps, *SHAPE)


def test_large_in_memory_arrays_are_gathered_on_the_host(monkeypatch, written):
    splits, _ = written
    arguments = dict(batch_size=5, adversary_steps=2, flip=True, seed=1, device=None, epochs=2)
    as_constant = _batches(make_training_dataset(splits.train, **arguments), 8)
    evaluated = _batches(make_evaluation_dataset(splits.validation, batch_size=3), 3)
    calls = []

    def counted(images, indices):
        calls.append(np.shape(indices))
        return np.take(images, indices, axis=0)

    monkeypatch.setattr(pipeline, "GRAPH_CONSTANT_LIMIT", splits.train.images.nbytes - 1)
    monkeypatch.setattr(pipeline, "read_rows", counted)
    on_host = _batches(make_training_dataset(splits.train, **arguments), 8)
    assert (5,) in calls and (5, 2) in calls  # main and adversary batches went through NumPy
    _assert_same_batches(on_host, as_constant)
    calls.clear()
    monkeypatch.setattr(pipeline, "GRAPH_CONSTANT_LIMIT", splits.validation.images.nbytes - 1)
    _assert_same_batches(_batches(make_evaluation_dataset(splits.validation, batch_size=3), 3), evaluated)
    assert sorted(calls) == [(2,), (3,), (3,)]


def test_streamed_evaluation_batches_equal_the_in_memory_ones(written):
    splits, path = written
    streamed = read_hdf5(path, memory_budget=0).evaluation["val"]
    from_file = _batches(make_evaluation_dataset(streamed, batch_size=3), 10)
    in_memory = _batches(make_evaluation_dataset(splits.validation, batch_size=3), 10)
    assert [len(batch[0]) for batch in from_file] == [3, 3, 2]
    _assert_same_batches(from_file, in_memory)
    np.testing.assert_array_equal(np.concatenate([batch[0] for batch in from_file]), splits.validation.images)


def test_fit_on_a_streamed_set_trains_as_on_the_in_memory_set(written):
    splits, path = written
    streamed = read_hdf5(path, memory_budget=0).train
    start = build_tiny_model(("a", "b"), image_shape=SHAPE, seed=0)
    trained = {}
    for name, data in (("memory", splits.train), ("streamed", streamed)):
        model = clone_model(start)
        model.compile(adversary_steps=2, adversary_batches="fresh", adversarial_weight=0.1, run_eagerly=True)
        dataset = make_training_dataset(data, batch_size=6, adversary_steps=2, seed=7, device=None, epochs=1)
        history = model.fit(dataset, epochs=1, steps_per_epoch=pipeline.steps_per_epoch(data, 6), verbose=0)
        assert all(np.isfinite(v).all() for v in history.history.values())
        trained[name] = values(model.weights)
    initial = values(start.weights)
    assert any(not np.array_equal(a, b) for a, b in zip(trained["streamed"], initial))  # it trained
    for a, b in zip(trained["streamed"], trained["memory"]):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)


@pytest.mark.parametrize("when", ["between epochs", "when training ends"])
def test_a_streamed_file_damaged_during_a_run_stops_it_with_one_error_naming_it(tmp_path, when):
    import keras

    from disentangle_tf.errors import DataError
    from disentangle_tf.run.config import RunConfig
    from disentangle_tf.run.training import run

    data = load_manifest(_write_manifest(tmp_path), image_size=(16, 20), memory_budget=0)
    target = tmp_path / "02.png"  # a training row

    class Damage(keras.callbacks.Callback):
        def _damage(self):
            target.write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)

        def on_epoch_end(self, epoch, logs=None):
            if when == "between epochs" and epoch == 0:
                self._damage()

        def on_train_end(self, logs=None):
            if when == "when training ends":
                self._damage()

    config = RunConfig().replace({"image_size": [16, 20], "encoder_filters": [4, 8], "encoder_strides": [2, 2],
                                  "stem_filters": 4, "head_units": [8], "batch_size": 4, "epochs": 3,
                                  "precise_batch_norm": 2, "last_layer_retraining": True,
                                  "independence_weight": 0.0})  # the steps that read the images, no penalty
    out = tmp_path / "run"
    with pytest.raises(DataError, match=r"02\.png: .*read while training.*changed or removed") as info:
        run(config, output_dir=out, data=data, verbose=0, callbacks=[Damage()])
    assert "\n" not in str(info.value)
    # The run stopped before writing a model; its backup is kept for a resume.
    assert not (out / "model.keras").exists() and (out / "backup").is_dir()
