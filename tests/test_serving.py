"""The exported serving signature and the package's wrapper refuse inputs of the wrong shape.

An input of the wrong rank can reach TensorFlow's CPU convolution, which then aborts the
whole process; so every call runs in a child process, where an abort shows as a signal
instead of killing the test run.
"""

import json
import os
import subprocess
import sys

import pytest

from conftest import EXPORTED_IMAGE_SHAPE as IMAGE_SHAPE

CALLS = r"""
import json, sys
import tensorflow as tf
from disentangle_tf.export import load_exported_model
path, shapes = sys.argv[1], json.loads(sys.argv[2])
signature = tf.saved_model.load(path).signatures["serving_default"]
wrapper = load_exported_model(path)
for name, shape in shapes.items():
    for caller in ("signature", "wrapper"):
        images = tf.zeros(shape)
        try:
            if caller == "signature":
                outputs = {k: v.numpy() for k, v in signature(images=images).items()}
            else:
                outputs = wrapper(images)
            result = {"shape": list(outputs["a_probabilities"].shape)}
        except Exception as error:
            result = {"error": type(error).__name__, "message": str(error)}
        print(json.dumps({"name": name, "caller": caller, **result}), flush=True)
"""

GOOD = {"batch": [2, *IMAGE_SHAPE], "one image in a batch": [1, *IMAGE_SHAPE]}
BAD = {
    "one image without the batch axis": list(IMAGE_SHAPE),
    "an extra axis": [1, 1, *IMAGE_SHAPE],
    "another height": [2, 17, 20, 1],
    "another number of channels": [2, 16, 20, 3],
    "an empty batch": [0, *IMAGE_SHAPE],
}


@pytest.fixture(scope="module")
def results(exported_run):
    path = exported_run / "saved_model"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    process = subprocess.run([sys.executable, "-c", CALLS, str(path), json.dumps({**GOOD, **BAD})],
                             capture_output=True, text=True, env=env, timeout=600)
    lines = [json.loads(line) for line in process.stdout.splitlines() if line.startswith("{")]
    # A negative return code is a signal: SIGABRT (-6) from a kernel's failed check.
    assert process.returncode == 0, (process.returncode, lines[-1:], process.stderr[-2000:])
    return {(line["name"], line["caller"]): line for line in lines}


# The tests of the served export go to one worker, which serves it once.
SERVED = pytest.mark.xdist_group("served")


@SERVED
@pytest.mark.parametrize("caller", ["signature", "wrapper"])
@pytest.mark.parametrize("name", sorted(GOOD))
def test_batches_of_the_declared_shape_are_served(results, name, caller):
    assert results[name, caller] == {"name": name, "caller": caller, "shape": [GOOD[name][0], 2]}


@SERVED
@pytest.mark.parametrize("name", sorted(BAD))
def test_signature_refuses_other_shapes_naming_the_expected_one(results, name):
    result = results[name, "signature"]
    assert result.get("error") == "InvalidArgumentError", result
    if name == "an empty batch":
        assert "expected a batch of shape (N, 16, 20, 1) with N >= 1, got an empty batch" in result["message"]
    else:
        assert "expected shape [?,16,20,1]" in result["message"], result["message"]


@SERVED
@pytest.mark.parametrize("name", sorted(BAD))
def test_wrapper_refuses_other_shapes_in_one_line(results, name):
    result = results[name, "wrapper"]
    assert result.get("error") == "ValueError", result
    got = "(0, 16, 20, 1)" if name == "an empty batch" else str(tuple(BAD[name]))
    assert result["message"] == f"images: expected a batch of shape (N, 16, 20, 1) with N >= 1, got {got}"


# ----------------------------------------------------------------- raw pixels
@pytest.fixture(scope="module")
def pixel_model(exported_run):
    import tensorflow as tf

    return tf.saved_model.load(str(exported_run / "saved_model"))


def _reference_inputs(pixels):
    """Model inputs from raw pixels, computed here: BT.601 grey, then the package's resize + z-score."""
    import numpy as np

    from disentangle_tf.data.images import standardize_images

    pixels = np.asarray(pixels, np.float64)
    if pixels.shape[-1] == 3:
        pixels = pixels @ np.array([0.2989, 0.5870, 0.1140])
    else:
        pixels = pixels[..., 0]
    return standardize_images(pixels[..., None].astype("float32"), IMAGE_SHAPE[:2])


@pytest.mark.parametrize("signature, dtype, shape", [
    ("serve_pixels", "uint8", (3, 48, 40, 3)),
    ("serve_pixels", "uint8", (2, 16, 20, 1)),
    ("serve_pixels_float", "float32", (2, 33, 17, 1)),
    ("serve_pixels_float", "float32", (1, 64, 80, 3)),
])
def test_raw_pixels_are_served_as_preprocessing_then_the_float_signature(pixel_model, signature, dtype, shape):
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(len(shape) + shape[1])
    pixels = rng.integers(0, 4096 if dtype == "float32" else 256, size=shape).astype(dtype)
    served = pixel_model.signatures[signature](pixels=tf.constant(pixels))
    expected = pixel_model.signatures["serving_default"](images=_reference_inputs(pixels))
    assert set(served) == set(expected)
    for key in expected:
        np.testing.assert_allclose(served[key].numpy(), expected[key].numpy(), rtol=0, atol=1e-5, err_msg=key)


@pytest.mark.parametrize("shape, fragment", [
    ((2, 16, 20, 2), "expected 1 or 3 channels"),
    ((0, 16, 20, 1), "expected at least one image"),
])
def test_raw_pixels_of_the_wrong_layout_are_refused(pixel_model, shape, fragment):
    import numpy as np
    import tensorflow as tf

    with pytest.raises(tf.errors.InvalidArgumentError, match=fragment):
        pixel_model.signatures["serve_pixels"](pixels=tf.constant(np.zeros(shape, np.uint8)))
