"""``--memory-budget``: the train command streams what does not fit, with the same result."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import RESULTS_ONLY
from disentangle_tf.run.config import RunConfig, memory_budget_bytes

TINY = ["--image-size", "16", "20", "--epochs", "2", "--batch-size", "8", "--head-units", "8", "--quiet",
        "--precise-batch-norm", "0", "--deterministic", "--no-flip"]


def _manifest(root):
    from PIL import Image

    rng = np.random.default_rng(0)
    lines = ["path,shape,split"]
    (root / "images").mkdir()
    for split, count in (("train", 24), ("val", 8), ("test", 8)):
        for _ in range(count):
            name = f"images/{len(lines):03d}.png"
            label = len(lines) % 2
            image = rng.integers(0, 120, size=(24, 30), dtype=np.uint8) + 100 * label
            Image.fromarray(image.astype(np.uint8)).save(root / name)
            lines.append(f"{name},{'ab'[label]},{split}")
    (root / "manifest.csv").write_text("\n".join(lines) + "\n")
    encoder = root / "encoder.json"
    encoder.write_text(json.dumps({"encoder_filters": [4, 8], "encoder_strides": [2, 2], "stem_filters": 4,
                                   **RESULTS_ONLY}))
    return ["--dataset", "csv", "--data", root / "manifest.csv", "--task", "shape", "--config", encoder]


def test_memory_budget_sizes():
    assert memory_budget_bytes("8GiB") == 8 * 2**30
    assert memory_budget_bytes("500MB") == 500 * 10**6
    assert memory_budget_bytes("0") == 0
    assert memory_budget_bytes("unlimited") is None
    assert 0 < memory_budget_bytes("auto")
    for bad in ("lots", "-1GB", "8 parsecs", "nan"):
        with pytest.raises(ValueError, match="memory_budget must be auto, unlimited or a size"):
            RunConfig().replace({"memory_budget": bad})


def test_a_streamed_run_ends_as_an_in_memory_one(tmp_path, run_module):
    data = _manifest(tmp_path)
    metrics = {}
    for budget in ("unlimited", "0"):
        out = tmp_path / f"run-{budget}"
        result = run_module("disentangle_tf.train", *data, *TINY, "--memory-budget", budget, "--output-dir", out)
        assert result.returncode == 0, result.stderr[-3000:]
        metrics[budget] = json.loads((out / "metrics.json").read_text())
    for split in ("val", "test"):
        streamed, in_memory = metrics["0"][split]["scores"]["shape"], metrics["unlimited"][split]["scores"]["shape"]
        assert streamed["confusion_matrix"] == in_memory["confusion_matrix"]
        assert streamed["expected_calibration_error"] == pytest.approx(in_memory["expected_calibration_error"],
                                                                       rel=1e-5)
        np.testing.assert_allclose(streamed["reliability"]["confidence"], in_memory["reliability"]["confidence"],
                                   rtol=1e-5)

    # The budget reaches the reader: 0 streams every split, unlimited streams none.
    from disentangle_tf.data.streaming import LazyImages
    from disentangle_tf.run.datasets import load_dataset

    settings = {"dataset": "csv", "data": str(data[3]), "tasks": ["shape"], "image_size": [16, 20]}
    streamed = load_dataset(RunConfig().replace({**settings, "memory_budget": "0"}).data)
    assert all(isinstance(s.images, LazyImages) for s in (streamed.train, *streamed.evaluation.values()))
    in_memory = load_dataset(RunConfig().replace({**settings, "memory_budget": "unlimited"}).data)
    assert isinstance(in_memory.train.images, np.ndarray)
    np.testing.assert_array_equal(np.asarray(streamed.train.images), in_memory.train.images)

    refused = run_module("disentangle_tf.train", *data, *TINY, "--memory-budget", "lots",
                         "--output-dir", tmp_path / "refused")
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "--memory-budget must be auto, unlimited or a size such as 8GiB" in refused.stderr
    assert not (tmp_path / "refused").exists()
