"""The ``saved_model`` and ``figures`` settings: a run that turns them off writes neither
``saved_model/`` nor ``figures/`` and is otherwise the same run; predict, given its
directory, says in one line why there is nothing to serve."""

from __future__ import annotations

import json

import pytest

from conftest import RESULTS_ONLY, eager_compiles, run_predict
from test_fault_tolerance import TINY, tiny_splits


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The same tiny run (one epoch, eight steps, eagerly) with every output and with the two
    settings off: ``(directory with, directory without, metrics with, metrics without)``."""
    from disentangle_tf.run.config import RunConfig
    from disentangle_tf.run.training import run

    root = tmp_path_factory.mktemp("results_only")
    results = []
    with eager_compiles():
        for name, writes in (("all", {"saved_model": True, "figures": True}), ("results", RESULTS_ONLY)):
            config = RunConfig().replace({**TINY, "epochs": 1, **writes})
            results.append(run(config, output_dir=root / name, data=tiny_splits(), verbose=0).metrics)
    return root / "all", root / "results", *results


def test_off_the_run_writes_neither_the_export_nor_the_figures_and_scores_the_same(runs):
    everything, results_only, metrics, metrics_without = runs
    assert (everything / "saved_model" / "saved_model.pb").is_file()
    assert any((everything / "figures").glob("confusion_*.png"))
    names = sorted(path.name for path in results_only.iterdir())
    assert names == ["config.json", "logs", "metrics.json", "model.keras"]
    assert metrics_without == metrics
    settings = json.loads((results_only / "config.json").read_text())
    assert (settings["saved_model"], settings["figures"]) == (False, False)


def test_predict_on_a_run_without_its_export_says_so_in_one_line(runs, tmp_path, capsys):
    _, results_only, *_ = runs
    image = tmp_path / "image.png"
    from PIL import Image

    Image.new("L", (20, 16)).save(image)
    code, out, err = run_predict(["--model", results_only, "--output", tmp_path / "p.csv", image], capsys)
    assert code == 2 and out == "", err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert f"{results_only}: a training run with saved_model off holds no SavedModel" in err
    assert not (tmp_path / "p.csv").exists()
