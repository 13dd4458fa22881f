"""Every form of model that ``predict --model`` and ``load_exported_model`` are given either
gives each task's probabilities or is refused in one line (exit code 2): never a CSV of
paths alone. The command runs in this process."""

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
from PIL import Image

from conftest import build_tiny_model, run_predict

IMAGE_SHAPE = (16, 20, 1)


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """Three PNG files of 24 x 30 and the batch the model sees (z-scored, resized)."""
    from disentangle_tf.data.images import load_images

    folder = tmp_path_factory.mktemp("images")
    paths = []
    for k in range(3):
        pixels = np.random.default_rng(k).integers(0, 256, size=(24, 30), dtype=np.uint8)
        Image.fromarray(pixels, "L").save(folder / f"{k}.png")
        paths.append(str(folder / f"{k}.png"))
    return paths, load_images(paths, IMAGE_SHAPE[:2], IMAGE_SHAPE[2]).numpy()


@pytest.fixture(scope="module")
def model():
    from disentangle_tf.task_spec import TaskSpec

    return build_tiny_model([TaskSpec("plane", 3, class_names=("3VV", "LVOT", "Abd")), TaskSpec("shadow", 2)],
                            image_shape=IMAGE_SHAPE)


def softmax(logits):
    return tf.nn.softmax(tf.cast(logits, tf.float32)).numpy()


def check_predictions(table, paths, expected, class_names):
    """The CSV holds every task's probabilities (``expected``) and predicted class."""
    assert list(table["path"]) == paths
    for task, probabilities in expected.items():
        names = class_names[task]
        columns = [f"{task}_probability_{name}" for name in names]
        np.testing.assert_allclose(table[columns].to_numpy(), probabilities, rtol=1e-5, atol=1e-6)
        assert list(table[f"{task}_predicted"].astype(str)) == [names[k] for k in probabilities.argmax(1)]
    assert len(table.columns) == 1 + sum(len(class_names[task]) + 1 for task in expected)


@pytest.mark.keras_internals
def test_the_package_export_and_a_run_directory_give_named_probabilities(tmp_path, images, model, capsys):
    from disentangle_tf.export import export_saved_model, load_exported_model

    paths, batch = images
    export_saved_model(model, tmp_path / "run" / "saved_model")
    expected = {task: softmax(logits) for task, logits in model(batch).items()}
    names = {"plane": ["3VV", "LVOT", "Abd"], "shadow": ["0", "1"]}
    for given in (tmp_path / "run", tmp_path / "run" / "saved_model"):
        code, _, err = run_predict(["--model", given, "--output", tmp_path / "p.csv", "--overwrite", *paths], capsys)
        assert code == 0, err
        check_predictions(pd.read_csv(tmp_path / "p.csv"), paths, expected, names)
        loaded = load_exported_model(given)
        assert loaded.task_names == ("plane", "shadow") and loaded.logit_outputs == {}


def test_a_keras_export_gives_the_softmax_of_its_logits(tmp_path, images, model, capsys):
    from disentangle_tf.export import load_exported_model

    paths, batch = images
    model.export(str(tmp_path / "keras_export"), verbose=False)
    loaded = load_exported_model(tmp_path / "keras_export")
    # The tasks are the signature's outputs (by name); the classes are numbered.
    assert loaded.task_names == ("plane", "shadow") and loaded.class_names == {"plane": None, "shadow": None}
    assert loaded.logit_outputs == {"plane": "plane", "shadow": "shadow"}
    expected = {task: softmax(logits) for task, logits in model(batch).items()}
    outputs = loaded(batch)
    for task in expected:
        np.testing.assert_allclose(outputs[f"{task}_probabilities"], expected[task], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(outputs[task], model(batch)[task], rtol=1e-5, atol=1e-5)  # the logits kept
    code, out, err = run_predict(["--model", tmp_path / "keras_export", "--output", tmp_path / "p.csv", *paths], capsys)
    assert code == 0, err
    assert out.strip() == f"wrote {tmp_path / 'p.csv'} (3 images)"
    check_predictions(pd.read_csv(tmp_path / "p.csv"), paths, expected, {"plane": ["0", "1", "2"],
                                                                         "shadow": ["0", "1"]})


def test_a_keras_export_of_unnamed_outputs_names_the_tasks_after_them(tmp_path, images, capsys):
    import keras

    from disentangle_tf.export import load_exported_model

    paths, batch = images
    inputs = keras.Input(IMAGE_SHAPE, name="pixels_in")
    flat = keras.layers.Flatten()(inputs)
    functional = keras.Model(inputs, [keras.layers.Dense(4)(flat), keras.layers.Dense(2)(flat)])
    functional.export(str(tmp_path / "unnamed"), verbose=False)
    loaded = load_exported_model(tmp_path / "unnamed")
    assert loaded.task_names == ("output_0", "output_1") and loaded.input_name == "pixels_in"
    expected = dict(zip(loaded.task_names, (softmax(logits) for logits in functional(batch))))
    code, _, err = run_predict(["--model", tmp_path / "unnamed", "--output", tmp_path / "p.csv", *paths], capsys)
    assert code == 0, err
    check_predictions(pd.read_csv(tmp_path / "p.csv"), paths, expected, {"output_0": list("0123"),
                                                                         "output_1": ["0", "1"]})


class Scalar(tf.Module):
    """Not a classifier: one number per image."""

    def __init__(self):
        super().__init__()
        self.weight = tf.Variable(2.0)

    @tf.function(input_signature=[tf.TensorSpec((None, *IMAGE_SHAPE), tf.float32, name="images")])
    def score(self, images):
        return {"score": tf.reduce_mean(images, axis=[1, 2]) * self.weight}

    @tf.function(input_signature=[tf.TensorSpec((None, 3), tf.float32, name="x")])
    def vector(self, x):
        return {"classes": tf.nn.softmax(x * self.weight)}


def _save(path, module, signatures):
    tf.saved_model.save(module, str(path), signatures=signatures)
    return path


#: A form that cannot give probabilities, and the refusal that names what is missing.
REFUSED = {
    "a .keras file": (lambda tmp, model: (model.save(tmp / "model.keras"), tmp / "model.keras")[1],
                      "is a Keras model file; expected a SavedModel directory or a training run's"),
    "no serving signature": (lambda tmp, model: _save(tmp / "plain", Scalar(), None),
                             "SavedModel has no 'serving_default' signature (signatures: none)"),
    "no class scores": (lambda tmp, model: _save(tmp / "scalar", (m := Scalar()), {"serving_default": m.score}),
                        "its serving_default signature has no <task>_probabilities outputs nor outputs of class "
                        "scores (N, classes) (outputs: score (N, 1) float32)"),
    "no images in": (lambda tmp, model: _save(tmp / "vector", (m := Scalar()), {"serving_default": m.vector}),
                     "its serving_default signature takes x (N, 3) float32; expected one float batch of images "
                     "(N, H, W, C) of a fixed size, C 1 or 3"),
    "a task without scores": (lambda tmp, model: _without_probabilities(tmp, model),
                              "its serving_default signature has no plane_probabilities output nor plane logits"),
}


def _without_probabilities(tmp, model):
    """The package's metadata file beside a SavedModel that lacks a task's scores."""
    from disentangle_tf.export import METADATA_FILE, export_saved_model

    export_saved_model(model, tmp / "package")
    module = Scalar()
    path = _save(tmp / "partial", module, {"serving_default": module.score})
    (path / METADATA_FILE).write_text((tmp / "package" / METADATA_FILE).read_text())
    return path


@pytest.mark.parametrize("form", sorted(REFUSED))
def test_a_model_that_gives_no_probabilities_is_refused_in_one_line(form, tmp_path, images, model, capsys):
    from disentangle_tf.export import load_exported_model

    paths, _ = images
    make, fragment = REFUSED[form]
    given = make(tmp_path, model)
    code, out, err = run_predict(["--model", given, "--output", tmp_path / "p.csv", *paths], capsys)
    lines = err.strip().splitlines()
    assert code == 2 and out == "" and len(lines) == 1, err
    assert lines[0].startswith(f"Error: --model {given}: ") and fragment in lines[0], lines[0]
    assert not (tmp_path / "p.csv").exists()
    with pytest.raises(ValueError) as info:
        load_exported_model(given)
    assert fragment in str(info.value) and "\n" not in str(info.value)
