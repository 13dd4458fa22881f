"""The combinations of labels a model was trained on: recorded by the training run, kept by
``get_config`` and ``model.keras``, a constant of the SavedModel whose signatures flag a
prediction on a combination never seen in training, a column of ``predict``'s CSV and
scores in ``metrics.json``. Every expectation is computed here from the model's own
predictions and the labels the test generated."""

from __future__ import annotations

import collections
import json

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
from PIL import Image

from conftest import TINY_METHOD, build_tiny_model, clone_model, run_predict
from disentangle_tf.task_spec import TaskSpec

IMAGE_SHAPE = (16, 20, 1)
TASKS = [TaskSpec("a", 2, class_names=("x", "y")), TaskSpec("b", 3, class_names=("p", "q", "r"))]


def counted(a, b):
    """``{(a, b): images}`` of the rows labelled for both tasks, by hand."""
    return dict(collections.Counter((int(i), int(j)) for i, j in zip(a, b) if i >= 0 and j >= 0))


def predicted(model, images):
    logits = model(images, training=False)
    return np.stack([np.argmax(np.asarray(logits[task]), axis=-1) for task in model.task_names], axis=1)


@pytest.fixture(scope="module")
def varied():
    """A tiny model whose predictions on 24 images form at least two combinations, the images,
    and training labels holding every combination but the first image's predicted one."""
    rng = np.random.default_rng(0)
    images = (rng.normal(size=(24, *IMAGE_SHAPE)) * np.linspace(0.1, 5, 24)[:, None, None, None]).astype("float32")
    for seed in range(10):
        model = build_tiny_model(TASKS, image_shape=IMAGE_SHAPE, seed=seed)
        found = predicted(model, images)
        if len(set(map(tuple, found.tolist()))) > 1:
            break
    else:
        pytest.fail("no seed gives a tiny model predicting two combinations")
    left_out = tuple(int(v) for v in found[0])
    pairs = [(i, j) for i in range(2) for j in range(3) if (i, j) != left_out]
    a = np.array([i for i, _ in pairs] * 3 + [-1, 0, -1], np.int64)
    b = np.array([j for _, j in pairs] * 3 + [left_out[1], -1, -1], np.int64)  # missing labels: no combination
    training = {"a": a, "b": b}
    expected_seen = np.array([tuple(int(v) for v in row) in counted(a, b) for row in found])
    assert expected_seen.any() and not expected_seen.all()
    return model, images, training, expected_seen


def test_the_record_counts_every_combination_and_ignores_missing_labels(varied):
    from disentangle_tf.models.training_combinations import count_combinations

    model, _, training, _ = varied
    record = count_combinations(training, model.task_names)
    assert dict(record) == counted(training["a"], training["b"])
    assert sum(images for _, images in record) == 15  # 5 combinations x 3; the 3 rows missing a label left out


@pytest.mark.keras_internals
def test_get_config_and_model_keras_keep_the_record(varied, tmp_path):
    import keras

    from disentangle_tf.models import DisentanglerEnsemble
    from disentangle_tf.models.training_combinations import count_combinations

    model, _, training, _ = varied
    assert build_tiny_model(TASKS, image_shape=IMAGE_SHAPE).training_combinations is None
    model.training_combinations = count_combinations(training, model.task_names)
    expected = counted(training["a"], training["b"])
    assert dict(clone_model(model).training_combinations) == expected
    assert dict(DisentanglerEnsemble([model, clone_model(model)]).training_combinations) == expected
    model.compile()
    model.save(tmp_path / "model.keras")
    assert dict(keras.saving.load_model(tmp_path / "model.keras").training_combinations) == expected
    with pytest.raises(ValueError, match=r"training_combinations: \[0, 3\] is not a class per task"):
        model.training_combinations = [((0, 3), 1)]
    with pytest.raises(ValueError, match="has 0 images"):
        model.training_combinations = [((0, 1), 0)]


def test_the_saved_model_flags_predictions_on_combinations_never_in_training(varied, tmp_path):
    from disentangle_tf.export import export_saved_model
    from disentangle_tf.models.training_combinations import count_combinations

    model, images, training, expected_seen = varied
    model.training_combinations = count_combinations(training, model.task_names)
    export_saved_model(model, tmp_path / "flagged")
    served = tf.saved_model.load(str(tmp_path / "flagged"))
    outputs = served.signatures["serving_default"](images=tf.constant(images))
    flag = outputs["combination_seen_in_training"]
    assert flag.dtype == tf.bool and flag.shape == (len(images),)
    np.testing.assert_array_equal(flag.numpy(), expected_seen)
    # The raw-pixel signatures flag the model's predictions on what they feed it.
    pixels = np.random.default_rng(3).integers(0, 256, size=(5, 30, 40, 1), dtype=np.uint8)
    outputs = served.signatures["serve_pixels"](pixels=tf.constant(pixels))
    fed = np.stack([np.argmax(outputs[f"{task}_probabilities"].numpy(), axis=1) for task in model.task_names], 1)
    seen = counted(training["a"], training["b"])
    np.testing.assert_array_equal(outputs["combination_seen_in_training"].numpy(),
                                  [tuple(int(v) for v in row) in seen for row in fed])
    metadata = json.loads((tmp_path / "flagged" / "disentangle_tf.json").read_text())
    assert {tuple(c["labels"]): c["images"] for c in metadata["training_combinations"]} == seen

    model.training_combinations = None
    export_saved_model(model, tmp_path / "unflagged")
    outputs = tf.saved_model.load(str(tmp_path / "unflagged")).signatures["serving_default"](images=tf.constant(images))
    assert "combination_seen_in_training" not in outputs


def test_predict_writes_the_flag_of_every_image_or_says_the_model_has_none(varied, tmp_path, capsys):
    from disentangle_tf.export import export_saved_model
    from disentangle_tf.models.training_combinations import count_combinations

    model, _, training, _ = varied
    paths = []
    for k in range(12):
        pixels = (np.random.default_rng(k).random((24, 30)) * 255 * (k + 1) / 12).astype(np.uint8)
        Image.fromarray(pixels, "L").save(tmp_path / f"{k}.png")
        paths.append(tmp_path / f"{k}.png")
    model.training_combinations = count_combinations(training, model.task_names)
    export_saved_model(model, tmp_path / "run" / "saved_model")
    code, _, err = run_predict(["--model", tmp_path / "run", "--output", tmp_path / "p.csv", *paths], capsys)
    assert code == 0, err
    table = pd.read_csv(tmp_path / "p.csv", dtype=str)
    seen = counted(training["a"], training["b"])
    rows = zip(table["a_predicted"].map(("x", "y").index), table["b_predicted"].map(("p", "q", "r").index))
    assert list(table["combination_seen_in_training"]) == ["true" if row in seen else "false" for row in rows]
    assert "combination" not in err

    model.export(str(tmp_path / "keras_export"), verbose=False)
    code, _, err = run_predict(["--model", tmp_path / "keras_export", "--output", tmp_path / "k.csv", *paths], capsys)
    assert code == 0, err
    assert "combination_seen_in_training" not in pd.read_csv(tmp_path / "k.csv").columns
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "records no training combinations" in lines[0] and "keras_export" in lines[0]


def test_evaluate_split_scores_the_images_predicted_on_an_absent_combination(varied):
    from disentangle_tf.data.labelled_images import LabelledImages
    from disentangle_tf.evaluation.evaluate import evaluate_split
    from disentangle_tf.models.training_combinations import count_combinations

    model, images, training, expected_seen = varied
    rng = np.random.default_rng(4)
    labels = {"a": rng.integers(0, 2, len(images)), "b": rng.integers(0, 3, len(images))}
    labels["b"][:3] = -1
    data = LabelledImages(images, labels)
    model.training_combinations = count_combinations(training, model.task_names)
    result = evaluate_split(model, data, batch_size=7)

    found = predicted(model, images)
    flagged = ~expected_seen
    absent = result["predicted_absent_combination"]
    assert absent["images"] == int(flagged.sum()) and absent["fraction"] == pytest.approx(flagged.mean())
    for k, task in enumerate(model.task_names):
        for key, mask in (("accuracy", flagged), ("accuracy_on_the_rest", ~flagged)):
            given = mask & (labels[task] >= 0)
            expected = np.mean(found[given, k] == labels[task][given]) if given.any() else None
            assert absent[key][task] == (pytest.approx(expected) if expected is not None else None), (key, task)
    seen = counted(training["a"], training["b"])
    true = [(int(i), int(j)) for i, j in zip(labels["a"], labels["b"]) if j >= 0]
    assert result["true_combinations"]["seen_in_training"] == sum(row in seen for row in true)
    assert result["true_combinations"]["without_every_label"] == 3
    absent_true = collections.Counter(row for row in true if row not in seen)
    assert {(("x", "y").index(c["labels"]["a"]), ("p", "q", "r").index(c["labels"]["b"])): c["images"]
            for c in result["true_combinations"]["absent_from_training"]} == dict(absent_true)
    chance = collections.Counter(labels["a"]).most_common(1)[0][1] / len(images)
    assert result["adversary_chance"]["b->a"] == pytest.approx(chance)
    json.dumps(result)  # plain JSON values

    model.training_combinations = None
    result = evaluate_split(model, data)
    assert result["predicted_absent_combination"] is None and result["true_combinations"] is None


def absent_combination_splits(relevant_task="b"):
    """Tiny splits of tasks a, b in which (a y, b q) is never in training: training and validation
    hold the three others (and training a few images missing a label), ``unseen`` only it."""
    from disentangle_tf.data.dataset_splits import DatasetSplits
    from disentangle_tf.data.labelled_images import LabelledImages

    tasks = [TaskSpec("a", 2, class_names=("x", "y")), TaskSpec("b", 2, class_names=("p", "q"))]
    rng = np.random.default_rng(7)

    def split(pairs, repeat):
        a = np.array([i for i, _ in pairs] * repeat, np.int64)
        b = np.array([j for _, j in pairs] * repeat, np.int64)
        images = rng.normal(size=(len(a), *IMAGE_SHAPE)).astype("float32")
        images += (a[:, None, None, None] - 0.5) + (b[:, None, None, None] - 0.5) * np.linspace(-1, 1, 20)[None, None, :, None]
        return LabelledImages(images, {"a": a, "b": b})

    train = split([(0, 0), (0, 1), (1, 0), (1, -1), (-1, 1)], 4)
    val = split([(0, 0), (0, 1), (1, 0)], 2)
    unseen = split([(1, 1)], 5)
    return DatasetSplits(tasks=tasks, train=train, validation=val, evaluation={"val": val, "unseen": unseen},
                         relevant_task=relevant_task)


TINY_RUN = {"image_size": [16, 20], "encoder_filters": [4, 8], "encoder_strides": [2, 2], "stem_filters": 4,
            "head_units": [8], "adversary_steps": 1, "batch_size": 4, "epochs": 1, "seed": 3,
            "independence_weight": TINY_METHOD["independence_weight"], "sampling": TINY_METHOD["sampling"],
            "precise_batch_norm": 2}
"""A tiny run with the steps after training (two batches of recomputed batch-norm statistics,
the refit) but no penalty: what is recorded and reported does not depend on it."""


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    from disentangle_tf.run.config import RunConfig
    from disentangle_tf.run.training import run

    out = tmp_path_factory.mktemp("combinations") / "run"
    data = absent_combination_splits()
    lines = []
    result = run(RunConfig().replace(TINY_RUN), out, data=data, verbose=0, notify=lines.append)
    return out, data, result


def test_a_training_run_records_the_training_split_and_scores_the_unseen_split(finished_run):
    import keras

    out, data, result = finished_run
    expected = counted(data.train.labels["a"], data.train.labels["b"])
    assert expected == {(0, 0): 4, (0, 1): 4, (1, 0): 4}
    assert dict(result.model.training_combinations) == expected
    loaded = keras.saving.load_model(out / "model.keras")
    assert dict(loaded.training_combinations) == expected

    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["unseen"]["true_combinations"] == {
        "seen_in_training": 0, "absent_from_training": [{"labels": {"a": "y", "b": "q"}, "images": 5}],
        "without_every_label": 0}
    assert metrics["val"]["true_combinations"]["absent_from_training"] == []
    served = tf.saved_model.load(str(out / "saved_model")).signatures["serving_default"]
    for name, split in data.evaluation.items():
        found = predicted(loaded, split.images)
        seen = np.array([tuple(int(v) for v in row) in expected for row in found])
        flag = served(images=tf.constant(split.images))["combination_seen_in_training"].numpy()
        np.testing.assert_array_equal(flag, seen)
        absent = metrics[name]["predicted_absent_combination"]
        assert absent["images"] == int((~seen).sum()) and absent["fraction"] == pytest.approx((~seen).mean())
        for k, task in enumerate(loaded.task_names):
            truth = split.labels[task]
            on_absent = np.mean(found[~seen, k] == truth[~seen]) if (~seen).any() else None
            assert absent["accuracy"][task] == (None if on_absent is None else pytest.approx(on_absent))


def test_fit_on_arrays_records_the_combinations_of_its_training_part():
    rng = np.random.default_rng(3)
    images = rng.normal(size=(40, *IMAGE_SHAPE)).astype("float32")
    a, b = rng.integers(0, 2, 40), rng.integers(0, 3, 40)
    a[(a == 1) & (b == 2)] = 0  # (y, r) absent
    b[:3] = -1  # unlabelled for b: in no combination
    model = build_tiny_model(TASKS, image_shape=IMAGE_SHAPE)
    model.compile()
    model.fit(images, {"a": a, "b": b}, batch_size=10, epochs=1, validation_split=0.25, verbose=0)
    # The last quarter is validation, not training: only the first 30 rows count.
    assert dict(model.training_combinations) == counted(a[:30], b[:30])
    assert (1, 2) not in dict(model.training_combinations)
