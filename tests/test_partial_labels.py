"""Partial labels end to end: a missing label (-1) through images, pipeline, training,
evaluation, probes and plots, and several evaluation splits (the paper's Table 1 layout).
"""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from conftest import RESULTS_ONLY, TINY_METHOD, build_random_data, build_tiny_model, clone_model
from disentangle_tf.data.labelled_images import MISSING_LABEL, LabelledImages
from disentangle_tf.data.pipeline import label_groups, make_training_dataset


def test_the_data_layer_marks_a_missing_label_as_the_model_does():
    from disentangle_tf.models import MISSING_LABEL as MODEL_MISSING_LABEL

    assert MISSING_LABEL == MODEL_MISSING_LABEL == -1


def test_labelled_images_accept_minus_one_and_nothing_lower():
    images = np.zeros((3, 4, 4, 1), np.float32)
    data = LabelledImages(images, {"a": np.array([0, -1, 1])})
    np.testing.assert_array_equal(data.subset(np.array([1, 2])).labels["a"], [-1, 1])
    with pytest.raises(ValueError, match=r"labels\['a'\]: class indices must be >= 0, or -1 .* found -2"):
        LabelledImages(images, {"a": np.array([0, -2, 1])})


# ------------------------------------------------------------------ pipeline, training
def test_group_balanced_sampling_counts_missing_as_a_value_of_its_own():
    # Groups (a, b): (0, 0) x 12, (1, 0) x 4, (missing, 1) x 2, (missing, 0) x 2.
    a = np.array([0] * 12 + [1] * 4 + [-1] * 4)
    b = np.array([0] * 16 + [1, 1, 0, 0])
    groups = label_groups({"a": a, "b": b})
    assert len(set(groups)) == 4
    assert len(set(groups[16:18])) == 1 and groups[16] != groups[18]
    data = LabelledImages(np.arange(20, dtype=np.float32).reshape(20, 1, 1, 1) * np.ones((1, 4, 4, 1), np.float32),
                          {"a": a, "b": b})
    drawn = {"a": [], "b": []}
    for _, labels in make_training_dataset(data, batch_size=20, flip=False, device=None, epochs=100,
                                           sampling="group_balanced"):
        for task in drawn:
            drawn[task].append(labels[task].numpy())
    pairs = list(zip(np.concatenate(drawn["a"]), np.concatenate(drawn["b"])))
    shares = {group: pairs.count(group) / len(pairs) for group in [(0, 0), (1, 0), (-1, 1), (-1, 0)]}
    assert sum(shares.values()) == pytest.approx(1.0)
    for share in shares.values():  # 2000 draws: within about 4 standard deviations of 1/4
        assert share == pytest.approx(0.25, abs=0.04)


def _fitted_weights(model, dataset, steps):
    model.fit(dataset, epochs=1, steps_per_epoch=steps, verbose=0)
    return [np.array(v.numpy()) for v in model.trainable_variables]


def _compiled(model):
    model.compile(adversarial_weight=0.1, adversary_steps=1, adversary_batches="same", run_eagerly=True)
    return model


def test_a_missing_label_through_the_pipeline_moves_nothing_of_its_task():
    """Training on -1 through the pipeline is training with that row's loss weighted 0,
    whatever class the row would have had; with weight 1 the class does matter."""
    data = build_random_data(("a", "b"), count=8, seed=5)
    rows = np.array([1, 6])
    masked = {task: values.copy() for task, values in data.labels.items()}
    masked["a"][rows] = MISSING_LABEL
    model = _compiled(build_tiny_model(("a", "b"), l2_weight=0.0))
    twins = [_compiled(clone_model(model)) for _ in range(4)]
    dataset = make_training_dataset(LabelledImages(data.images, masked), batch_size=8, flip=False, shuffle=False,
                                    device=None, epochs=1)
    through_pipeline = _fitted_weights(model, dataset, 1)

    weight = {"a": np.ones(8, np.float32), "b": np.ones(8, np.float32)}
    weight["a"][rows] = 0.0
    results = []
    for twin, label, weighted in zip(twins, [0, 1, 0, 1], [True, True, False, False]):
        labels = {task: values.copy() for task, values in data.labels.items()}
        labels["a"][rows] = label
        twin.fit(data.images, labels, batch_size=8, epochs=1, shuffle=False, verbose=0,
                 sample_weight=weight if weighted else None)
        results.append([np.array(v.numpy()) for v in twin.trainable_variables])
    for expected in results[:2]:
        for got, want in zip(through_pipeline, expected):
            np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)
    assert any(not np.allclose(x, y, atol=1e-7) for x, y in zip(results[2], results[3]))


# ------------------------------------------------------------------------ evaluation
def test_evaluation_scores_each_task_on_its_labelled_rows_only():
    from disentangle_tf.evaluation.evaluate import evaluate_split

    data = build_random_data(("a", "b"), count=12, seed=2)
    model = build_tiny_model(("a", "b"))
    labels = {"a": data.labels["a"].copy(), "b": data.labels["b"].copy()}
    labels["a"][[0, 4, 5, 9]] = MISSING_LABEL
    result = evaluate_split(model, LabelledImages(data.images, labels))

    logits = {t: keras.ops.convert_to_numpy(v) for t, v in model(data.images, training=False).items()}
    given = labels["a"] >= 0
    predicted = logits["a"].argmax(-1)
    assert result["labelled"] == {"a": 8, "b": 12}
    assert result["accuracy"]["a"] == pytest.approx(np.mean(predicted[given] == labels["a"][given]))
    assert result["accuracy"]["b"] == pytest.approx(np.mean(logits["b"].argmax(-1) == labels["b"]))
    for k in range(2):
        rows = given & (labels["a"] == k)
        assert result["scores"]["a"]["class_accuracy"][str(k)] == pytest.approx(np.mean(predicted[rows] == k))
    matrix = np.zeros((2, 2), int)
    for truth, guess in zip(labels["a"][given], predicted[given]):
        matrix[truth, guess] += 1
    assert result["scores"]["a"]["confusion_matrix"] == matrix.tolist()
    assert result["scores"]["a"]["images"] == 8

    # A split without any label of a task: the task is absent, its scores None.
    unlabelled = {"a": np.full(12, MISSING_LABEL), "b": labels["b"]}
    result = evaluate_split(model, LabelledImages(data.images, unlabelled))
    assert "a" not in result["accuracy"] and "a" not in result["class_accuracy"]
    assert result["scores"]["a"] is None and result["labelled"]["a"] == 0
    assert "b->a" not in result["adversary_accuracy"] and "a->b" in result["adversary_accuracy"]
    json.dumps(result)  # plain JSON values: metrics.json can hold them
    without = evaluate_split(model, LabelledImages(data.images, {"b": labels["b"]}))
    assert without["scores"]["a"] is None and without["accuracy"] == result["accuracy"]


# ---------------------------------------------------------------------------- probes
def test_probes_leave_out_rows_without_the_labels_they_need():
    from disentangle_tf.evaluation.probes import probe_rows
    from disentangle_tf.task_spec import TaskSpec

    rng = np.random.default_rng(0)
    tasks = [TaskSpec("a", 2), TaskSpec("b", 2)]

    def split(count, missing):
        a, b = rng.integers(2, size=count), rng.integers(2, size=count)
        features = {"a": rng.normal(size=(count, 3)) + b[:, None], "b": rng.normal(size=(count, 3)) + a[:, None]}
        a_missing, b_missing = a.copy(), b.copy()
        a_missing[:missing] = MISSING_LABEL
        b_missing[missing:2 * missing] = MISSING_LABEL
        return features, {"a": a_missing, "b": b_missing}

    features, labels = {}, {}
    features["val"], labels["val"] = split(60, 8)
    features["test"], labels["test"] = split(40, 6)
    rows = probe_rows(features, labels, tasks, fit_split="val", score_splits=("test",), kinds=("linear",))

    # The same probes on the labelled rows alone, split by split.
    def keep(name, task):
        kept = labels[name][task] >= 0
        return {t: v[kept] for t, v in features[name].items()}, {t: v[kept] for t, v in labels[name].items()}

    for source, target in (("a", "b"), ("b", "a")):
        values = {r["measure"]: r["value"] for r in rows if r["measure"] == f"probe_linear:{source}->{target}"}
        assert len(values) == 1
        f_val, l_val = keep("val", target)
        f_test, l_test = keep("test", target)
        alone = probe_rows({"val": f_val, "test": f_test}, {"val": {target: l_val[target]},
                                                             "test": {target: l_test[target]}},
                           tasks, fit_split="val", score_splits=("test",), kinds=("linear",))
        expected = [r["value"] for r in alone if r["measure"] == f"probe_linear:{source}->{target}"]
        assert list(values.values()) == pytest.approx(expected)


# ----------------------------------------------------------------------------- plots
def test_pca_scatter_greys_images_without_a_label():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from disentangle_tf.evaluation.plots import _scatter

    figure, ax = plt.subplots()
    points = np.arange(12, dtype=float).reshape(6, 2)
    _scatter(ax, points, np.array([0, -1, 1, -1, 0, 1]), ("x", "y"), "t")
    legend = [text.get_text() for text in ax.get_legend().get_texts()]
    assert legend == ["no label", "x", "y"]
    sizes = [len(collection.get_offsets()) for collection in ax.collections]
    assert sizes == [2, 2, 2]
    plt.close(figure)


# -------------------------------------------------- the paper's Table 1 on a manifest
def write_table_1_manifest(root):
    """A manifest in the layout of the paper's Table 1, tiny: planes 3VV / LVOT / Abd
    with or without shadow; ``others`` rows (other anatomy) have shadow labels only."""
    import tensorflow as tf

    rng = np.random.default_rng(0)
    counts = {  # split: [(plane, shadow, images)]
        "train": [("3VV", "without", 4), ("3VV", "with", 4), ("LVOT", "without", 6), ("Abd", "without", 3),
                  ("Abd", "with", 3)],
        "val": [("3VV", "without", 1), ("3VV", "with", 1), ("LVOT", "without", 1), ("Abd", "with", 1)],
        "test_seen": [("3VV", "without", 2), ("LVOT", "without", 1), ("Abd", "with", 2)],
        "lvot_with_shadow": [("LVOT", "with", 3)],
        "others": [("", "with", 2), ("NA", "without", 2)],
    }
    lines = ["path,plane,shadow,split"]
    for split, groups in counts.items():
        for plane, shadow, count in groups:
            for _ in range(count):
                name = f"images/{len(lines):03d}.png"
                image = rng.integers(0, 256, size=(24, 30, 1), dtype=np.uint8)
                (root / "images").mkdir(exist_ok=True)
                tf.io.write_file(str(root / name), tf.io.encode_png(image))
                lines.append(f"{name},{plane},{shadow},{split}")
    manifest = root / "manifest.csv"
    manifest.write_text("\n".join(lines) + "\n")
    return manifest


TINY = ["--image-size", "16", "20", "--epochs", "1", "--batch-size", "8", "--head-units", "8", "--quiet",
        "--precise-batch-norm", "0"]
SPLITS = ["--test-split", "test_seen", "--test-split", "lvot_with_shadow", "--test-split", "others"]


def test_table_1_manifest_trains_and_reports_every_split_per_class(tmp_path, run_module, eager_runs):
    manifest = write_table_1_manifest(tmp_path)
    encoder = tmp_path / "encoder.json"
    # The method's penalty and steps after training left out: the point is the splits and their scores.
    encoder.write_text(json.dumps({"encoder_filters": [4, 8], "encoder_strides": [2, 2], "stem_filters": 4,
                                   **TINY_METHOD, **RESULTS_ONLY}))
    data = ["--dataset", "csv", "--data", manifest, "--task", "plane", "--task", "shadow", *SPLITS]

    refused = run_module("disentangle_tf.train", *data, *TINY, "--output-dir", tmp_path / "refused")
    assert refused.returncode == 2
    assert ("row 33 (line 34): column 'plane' (task 'plane') is empty; every image needs a label for every task "
            "(pass --missing-labels allow for partial labels)") in refused.stderr
    assert not (tmp_path / "refused").exists()

    out = tmp_path / "run"
    result = run_module("disentangle_tf.train", *data, "--missing-labels", "allow", "--config", encoder, *TINY,
                        "--output-dir", out)
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert list(metrics) == ["val", "test_seen", "lvot_with_shadow", "others"]
    assert [metrics[s]["images"] for s in metrics] == [4, 5, 3, 4]
    for split in ("val", "test_seen", "lvot_with_shadow"):
        for task in ("plane", "shadow"):
            scores = metrics[split]["scores"][task]
            assert set(scores["class_accuracy"]) == set(scores["roc_auc"]) == set(scores["support"])
            assert len(scores["confusion_matrix"]) == len(scores["support"])
            for key in ("balanced_accuracy", "expected_calibration_error"):
                assert 0 <= scores[key] <= 1
    # Other planes: no plane label, so the plane task is absent there; shadow is scored on all 4.
    assert metrics["others"]["scores"]["plane"] is None and "plane" not in metrics["others"]["accuracy"]
    assert metrics["others"]["labelled"] == {"plane": 0, "shadow": 4}
    assert metrics["others"]["scores"]["shadow"]["support"] == {"with": 2, "without": 2}
    assert metrics["lvot_with_shadow"]["scores"]["plane"]["support"] == {"3VV": 0, "Abd": 0, "LVOT": 3}
    assert metrics["lvot_with_shadow"]["scores"]["plane"]["class_accuracy"]["3VV"] is None
    assert "others" in result.stdout and "lvot_with_shadow" in result.stdout

    # The same data through an HDF5 file keep their missing labels.
    h5 = tmp_path / "table1.h5"
    converted = run_module("disentangle_tf.convert", *data, "--missing-labels", "allow", "--image-size", 16, 20,
                           "--output", h5)
    assert converted.returncode == 0, converted.stderr[-3000:]
    from disentangle_tf.data.hdf5 import read_hdf5

    stored = read_hdf5(h5)
    assert list(stored.evaluation) == ["val", "test_seen", "lvot_with_shadow", "others"]
    np.testing.assert_array_equal(stored.evaluation["others"].labels["plane"], [-1] * 4)
    assert (stored.train.labels["plane"] >= 0).all()


def test_repeated_test_split_and_config_files_name_every_evaluation_split(tmp_path, run_module):
    from disentangle_tf.run.config import ConfigError, RunConfig
    from disentangle_tf.run.datasets import manifest_options

    def options(**values):
        config = RunConfig.from_flat_dict({"dataset": "csv", "data": "m.csv", "tasks": ["plane"], **values})
        return manifest_options(config.data)

    assert options(test_split=["test_seen", "others"]).split_values == {
        "train": "train", "val": "val", "test_seen": "test_seen", "others": "others"}
    assert options(test_split="holdout").split_names == ("train", "val", "holdout")  # an older config
    assert options(test_split="").split_names == ("train", "val")
    assert options().split_names == ("train", "val", "test")
    assert options(missing_labels="allow").missing_labels == "allow"
    with pytest.raises(ConfigError, match="test_split names 'a' twice"):
        options(test_split=["a", "b", "a"])
    with pytest.raises(ConfigError, match="missing_labels must be one of refuse, allow"):
        options(missing_labels="drop")
    with pytest.raises(ConfigError, match="cannot be named 'val'"):
        options(test_split=["val"], val_split="", validation_fraction=0.2)

    # On the command line: the option repeats; a value missing from the manifest is an empty split.
    manifest = write_table_1_manifest(tmp_path)
    data = ["--dataset", "csv", "--data", manifest, "--task", "plane", "--task", "shadow",
            "--missing-labels", "allow", "--image-size", 16, 20]
    result = run_module("disentangle_tf.convert", *data, *SPLITS, "--test-split", "lvot", "--output",
                        tmp_path / "x.h5")
    assert result.returncode == 2 and "split 'lvot' is empty: no row has value 'lvot'" in result.stderr
    result = run_module("disentangle_tf.convert", *data, "--test-split", "others", "--output", tmp_path / "y.h5")
    assert result.returncode == 2 and "column 'split' has value 'test_seen'" in result.stderr
