"""The command line end to end on tiny images, and its answers to bad input."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest


# The tests of the shared run go to one worker, which trains it once.
pytestmark = pytest.mark.xdist_group("cli_run")


def test_train_writes_every_output(cli_run):
    out, result = cli_run
    for name in ("saved_model/saved_model.pb", "model.keras", "metrics.json", "config.json"):
        assert (out / name).exists(), name
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics) == {"val", "test", "unseen"}
    for values in metrics.values():
        assert set(values["accuracy"]) == {"background", "shape"}
        assert set(values["adversary_accuracy"]) == {"background->shape", "shape->background"}
        assert all(0.0 <= v <= 1.0 for v in values["accuracy"].values())
    config = json.loads((out / "config.json").read_text())
    assert config["seed"] == 3 and config["image_size"] == [16, 20]  # option beats default
    assert config["adversary_steps"] == 2  # config file beats default
    assert "seed 3" in result.stdout  # the resolved config is summarised


def test_tensorboard_logs_have_train_and_validation_scalars(cli_run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out, _ = cli_run
    tags = {}
    for split in ("train", "validation"):
        accumulator = EventAccumulator(str(out / "logs" / split))
        accumulator.Reload()
        tags[split] = set(accumulator.Tags()["scalars"]) | set(accumulator.Tags()["tensors"])
    for split in ("train", "validation"):
        for name in ("1_task/shape_accuracy", "4_adversary/shape_to_background_accuracy",
                     "2_loss/encoder", "2_loss/adversary"):
            assert name in tags[split], (split, name, sorted(tags[split]))
    # The default method's penalty: its schedule's factor and its weight are logged.
    for name in ("2_loss/independence", "3_penalty/scale", "3_penalty/independence_weight"):
        assert name in tags["train"], (name, sorted(tags["train"]))


def test_saved_model_matches_keras_model_in_a_new_process(cli_run, tmp_path):
    import keras

    from disentangle_tf.data.synthetic import make_synthetic_split

    out, _ = cli_run
    images = make_synthetic_split("test", image_size=(16, 20), seed=9).images[:20]
    np.save(tmp_path / "images.npy", images)
    script = (
        "import sys, numpy as np, tensorflow as tf\n"
        "m = tf.saved_model.load(sys.argv[1])\n"
        "o = m.signatures['serving_default'](images=tf.constant(np.load(sys.argv[2])))\n"
        "np.savez(sys.argv[3], **{k: v.numpy() for k, v in o.items()})\n"
    )
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    subprocess.run([sys.executable, "-c", script, out / "saved_model", tmp_path / "images.npy",
                    tmp_path / "served.npz"], check=True, env=env, timeout=300)
    served = np.load(tmp_path / "served.npz")
    model = keras.saving.load_model(out / "model.keras")
    expected = model.predict_probabilities(images)
    for task in ("background", "shape"):
        np.testing.assert_allclose(served[f"{task}_probabilities"], expected[task], atol=1e-5)
        assert served[f"{task}_features"].shape[0] == 20


def test_predict_writes_probabilities_per_image(cli_run, tmp_path, run_module):
    import tensorflow as tf

    out, _ = cli_run
    paths = []
    for k, value in enumerate((0, 255)):
        image = np.full((40, 50, 3), value, np.uint8)
        image[10:20, 10:30] = 128
        path = tmp_path / f"img{k}.png"
        tf.io.write_file(str(path), tf.io.encode_png(image))
        paths.append(path)
    csv = tmp_path / "preds.csv"
    result = run_module("disentangle_tf.predict", "--model", out / "saved_model", "--output", csv, *paths)
    assert result.returncode == 0, result.stderr[-2000:]
    import pandas as pd

    table = pd.read_csv(csv)
    assert list(table["path"]) == [str(p) for p in paths]
    probabilities = table[["shape_probability_circle", "shape_probability_rectangle"]].to_numpy()
    np.testing.assert_allclose(probabilities.sum(1), 1.0, atol=1e-5)
    assert set(table["background_predicted"]) <= {"black", "white"}
    # A second call must not replace the first file.
    again = run_module("disentangle_tf.predict", "--model", out / "saved_model", "--output", csv, *paths)
    assert again.returncode == 2 and "file exists" in again.stderr


def one_line_error(result, fragment):
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error:") and fragment in lines[0], lines[0]
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--dataset", "mnist"], "Invalid value for '--dataset': 'mnist'"),
        (["--image-size", "64"], "--image-size"),
        (["--image-size", "a", "b"], "'a' is not a valid integer"),
        (["--image-size", "8", "8"], "--image-size must be two integers HEIGHT WIDTH, each >= 16"),
        (["--batch-size", "0"], "--batch-size must be >= 1"),
        (["--epochs", "-1"], "--epochs must be >= 1"),
    ],
)
def test_bad_options_give_one_line_and_exit_2(tmp_path, args, fragment, run_module):
    result = run_module("disentangle_tf.train", *args, "--output-dir", tmp_path / "out")
    one_line_error(result, fragment)
    assert not (tmp_path / "out").exists()


def test_unknown_config_key(tmp_path, run_module):
    config = tmp_path / "c.yaml"
    config.write_text("epochs: 1\nlearning_rat: 0.1\n")
    result = run_module("disentangle_tf.train", "--config", config, "--output-dir", tmp_path / "out")
    one_line_error(result, "unknown key 'learning_rat'")
    assert str(config) in result.stderr


def test_non_empty_output_dir_is_refused_and_kept(tmp_path, run_module):
    out = tmp_path / "out"
    out.mkdir()
    (out / "precious.txt").write_text("earlier results")
    result = run_module("disentangle_tf.train", "--output-dir", out, "--epochs", "1")
    one_line_error(result, "not empty")
    assert (out / "precious.txt").read_text() == "earlier results"
    assert sorted(p.name for p in out.iterdir()) == ["precious.txt"]


def test_predict_bad_model_dir(tmp_path, run_module):
    image = tmp_path / "a.png"
    image.write_bytes(b"not really a png")
    result = run_module("disentangle_tf.predict", "--model", tmp_path, "--output", tmp_path / "p.csv", image)
    one_line_error(result, "not a SavedModel directory")


def test_saved_model_holds_only_the_inference_weights(cli_run):
    import keras
    import tensorflow as tf

    out, _ = cli_run
    model = keras.saving.load_model(out / "model.keras")
    stored = tf.train.list_variables(str(out / "saved_model" / "variables" / "variables"))
    sizes = sorted(int(np.prod(shape)) for name, shape in stored if not name.startswith("_CHECKPOINTABLE"))
    inference = [*model.encoders, *model.classifiers]  # no adversaries, no optimizer state
    assert sizes == sorted(int(np.prod(v.shape)) for m in inference for v in m.variables)
