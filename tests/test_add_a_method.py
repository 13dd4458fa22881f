"""docs/add_a_method.rst: its worked example, one new file and one METHODS entry, works as the page says."""

from __future__ import annotations

import ast
import pathlib
import re
import sys
import types

import numpy as np
import pytest
import tensorflow as tf

from conftest import build_random_data, build_tiny_model
from disentangle_tf.models import methods

PAGE = pathlib.Path(__file__).resolve().parent.parent / "docs" / "add_a_method.rst"
MODULE = "disentangle_tf.models.mean_matching"


def _blocks() -> dict[str, str]:
    """The page's python code blocks by caption, dedented."""
    found = {}
    for caption, body in re.findall(r"\.\. code-block:: python\n   :caption: ([^\n]+)\n\n((?:   [^\n]*\n|\n)+)",
                                    PAGE.read_text()):
        found[caption] = "\n".join(line[3:] for line in body.splitlines()).strip() + "\n"
    return found


@pytest.fixture
def registered(monkeypatch):
    """The page's file imported as the module it names, and its entry added to METHODS."""
    blocks = _blocks()
    assert set(blocks) == {"disentangle_tf/models/mean_matching.py", "METHODS entry"}
    module = types.ModuleType(MODULE)
    exec(compile(blocks["disentangle_tf/models/mean_matching.py"], MODULE, "exec"), module.__dict__)
    monkeypatch.setitem(sys.modules, MODULE, module)
    entry = ast.parse(blocks["METHODS entry"].rstrip().rstrip(","), mode="eval")
    method = eval(compile(entry, "METHODS entry", "eval"), vars(methods))  # noqa: S307 (the page's own code)
    monkeypatch.setitem(methods.METHODS, method.name, method)
    return module, method


def _by_hand(features, other, own):
    total = 0.0
    for c in np.unique(own):
        means = [features[(own == c) & (other == k)].mean(0) for k in np.unique(other)
                 if ((own == c) & (other == k)).sum() > 3]
        if means:
            centre = np.mean(means, axis=0)
            total += sum(float(np.sum((m - centre) ** 2)) for m in means)
    return total


def test_the_worked_example_is_one_file_and_one_entry(registered):
    module, method = registered
    assert method.name == "mean matching" and methods.get_method("mean matching") is method
    tasks = (("a", 2), ("b", 2))
    data = build_random_data(tasks, count=32, seed=5)
    labels = {name: data.labels[name] for name in ("a", "b")}
    model = build_tiny_model(tasks)
    model.compile(method="mean matching")
    assert model.compiled_method["name"] == "mean matching"
    results = model.test_step((tf.constant(data.images), labels))
    features, _ = model.encode(tf.constant(data.images))
    expected = sum(_by_hand(np.asarray(features[i]), labels[model.task_names[j]], labels[model.task_names[i]])
                   for i, j in model.adversary_pairs)
    assert expected > 0
    assert float(results["independence_loss"]) == pytest.approx(expected, rel=1e-3)


def test_the_worked_example_moves_the_encoders_unlike_lambda_0(registered):
    tasks = (("a", 2), ("b", 2))
    data = build_random_data(tasks, count=32, seed=5)
    weights = {}
    for name in ("mean matching", "lambda=0"):
        model = build_tiny_model(tasks, seed=1)
        model.compile(method=name, sampling="uniform", precise_batch_norm=0)
        model.fit(data.images, data.labels, batch_size=32, epochs=1, verbose=0, seed=0)
        weights[name] = model.encoders[0].get_weights()
    assert any(not np.allclose(a, b) for a, b in zip(weights["mean matching"], weights["lambda=0"]))
