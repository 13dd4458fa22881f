"""The package's folder layout: command entry points, lazy packages, and the map in the docs."""

from __future__ import annotations

import inspect
import os
import pathlib
import subprocess
import sys

import pytest

from disentangle_tf.lazy import lazy_package

ROOT = pathlib.Path(__file__).resolve().parent.parent
SOURCE = ROOT / "disentangle_tf"
COMMANDS = ("train", "predict", "convert", "reproduce", "report")


@pytest.fixture(scope="module")
def no_tensorflow(tmp_path_factory):
    """A PYTHONPATH entry whose ``tensorflow`` fails to import: a command that loads it crashes."""
    folder = tmp_path_factory.mktemp("no_tensorflow")
    (folder / "tensorflow").mkdir()
    (folder / "tensorflow" / "__init__.py").write_text("raise ImportError('tensorflow was imported')\n")
    return folder


def _run_without_tensorflow(folder, *args):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(folder), str(ROOT)])}
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env, timeout=120)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_answers_help_and_bad_options_before_tensorflow_loads(command, no_tensorflow, tmp_path):
    module = f"disentangle_tf.{command}"
    shown = _run_without_tensorflow(no_tensorflow, "-m", module, "--help")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith(f"Usage: python -m {module} "), shown.stdout[:200]

    refused = _run_without_tensorflow(no_tensorflow, "-m", module, "--no-such-option")
    lines = [line for line in refused.stderr.splitlines() if line.strip()]
    assert refused.returncode == 2, refused.stderr
    assert "Traceback" not in refused.stderr
    assert len(lines) == 1 and lines[0].startswith("Error: No such option") and "--no-such-option" in lines[0], lines


def test_the_train_command_refuses_a_bad_value_before_tensorflow_loads(no_tensorflow, tmp_path):
    result = _run_without_tensorflow(no_tensorflow, "-m", "disentangle_tf.train", "--epochs", "0",
                                     "--output-dir", str(tmp_path / "out"))
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and "epochs" in result.stderr
    assert not (tmp_path / "out").exists()


def test_importing_a_folder_loads_no_tensorflow(no_tensorflow):
    script = ("import sys; import disentangle_tf.cli, disentangle_tf.run, "
              "disentangle_tf.evaluation, disentangle_tf.experiments, disentangle_tf.data, disentangle_tf.models; "
              "print(sorted(disentangle_tf.evaluation.__all__))")
    result = _run_without_tensorflow(no_tensorflow, "-c", script)
    assert result.returncode == 0, result.stderr
    assert "evaluate_split" in result.stdout and "predict_outputs" in result.stdout


def _package(tmp_path, name, modules):
    """A package ``name`` in ``tmp_path`` with one module per ``{module: source}``."""
    folder = tmp_path / name
    folder.mkdir()
    (folder / "__init__.py").write_text("")
    for module, source in modules.items():
        (folder / f"{module}.py").write_text(source)
    return folder


def test_lazy_package_imports_each_name_from_its_module_on_first_use(tmp_path, monkeypatch):
    _package(tmp_path, "lazy_demo", {"first": "A = 1\nB = 2\n", "second": "C = 3\n"})
    monkeypatch.syspath_prepend(str(tmp_path))
    namespace = {"__name__": "lazy_demo"}
    lazy_package(namespace, {"first": ["B", "A"], "second": ["C"]})

    assert namespace["__all__"] == ["A", "B", "C"]
    assert "lazy_demo.second" not in sys.modules
    assert namespace["__getattr__"]("C") == 3
    assert "lazy_demo.second" in sys.modules and namespace["C"] == 3
    assert set(namespace["__dir__"]()) >= {"A", "B", "C"}
    with pytest.raises(AttributeError, match="'lazy_demo' has no attribute 'D'"):
        namespace["__getattr__"]("D")


def test_lazy_package_refuses_a_name_given_for_two_modules():
    with pytest.raises(ValueError, match="'A' is given for 'first' and 'second'"):
        lazy_package({"__name__": "lazy_twice"}, {"first": ["A"], "second": ["A"]})


def test_the_data_and_models_packages_keep_their_public_names():
    import disentangle_tf.data as data
    import disentangle_tf.models as models

    assert data.__all__ == ["LabelledImages", "LazyImages", "default_memory_budget", "make_evaluation_dataset",
                            "make_synthetic_split", "make_synthetic_splits", "make_training_dataset",
                            "random_flip_batch"]
    assert models.__all__ == ["DenseHead", "Disentangler", "DisentanglerEnsemble", "FusedBatchNormalization",
                              "MISSING_LABEL", "ResidualEncoder", "TaskSpec", "ZeroPadChannels", "pair_name", "retrain_last_layer"]
    assert isinstance(models.FusedBatchNormalization, type)
    assert models.FusedBatchNormalization.__module__ == "disentangle_tf.fast.batch_normalization"


@pytest.mark.parametrize("name, keys", [("plot_confusion_matrix", ("confusion_matrix", "class_accuracy")),
                                        ("plot_reliability", ("reliability", "expected_calibration_error"))])
def test_the_score_figures_take_scores_path_title_and_say_what_they_read(name, keys):
    from disentangle_tf.evaluation import plots

    plot = getattr(plots, name)
    assert list(inspect.signature(plot).parameters) == ["scores", "path", "title"]
    assert plot.__name__ == name and plot.__module__ == "disentangle_tf.evaluation.plots"
    for key in keys:
        assert f"``{key}``" in plot.__doc__
    assert "Returns:" in plot.__doc__


def test_the_score_figures_write_a_png(tmp_path):
    from disentangle_tf.evaluation.plots import plot_confusion_matrix, plot_reliability

    scores = {
        "confusion_matrix": [[2, 0], [1, 1]], "class_accuracy": {"a": 1.0, "b": 0.5},
        "reliability": {"bins": 10, "confidence": [0.65, 0.95], "accuracy": [0.5, 1.0], "images": [2, 2]},
        "expected_calibration_error": 0.1,
    }
    for plot, file in ((plot_confusion_matrix, "confusion.png"), (plot_reliability, "reliability.png")):
        written = plot(scores, tmp_path / file, title="task")
        assert written == tmp_path / file
        assert written.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_architecture_page_names_every_top_level_module_and_folder():
    page = (ROOT / "docs" / "architecture.rst").read_text()
    entries = [p.name for p in SOURCE.glob("*.py") if p.name != "__init__.py"]
    entries += [f"{p.name}/" for p in SOURCE.iterdir() if (p / "__init__.py").is_file()]
    missing = [entry for entry in sorted(entries) if entry not in page]
    assert not missing, f"docs/architecture.rst does not name: {missing}"


@pytest.mark.parametrize("command", COMMANDS)
def test_an_entry_point_only_runs_its_command(command):
    import importlib

    entry = importlib.import_module(f"disentangle_tf.{command}")
    command_module = importlib.import_module(f"disentangle_tf.cli.{command}")
    assert entry.main is command_module.main
    assert len(inspect.getsource(entry).splitlines()) <= 12


@pytest.mark.parametrize("old, new", [("config", "run.config"), ("methods", "run.methods"),
                                      ("training", "run.training")])
def test_a_moved_module_imports_by_its_former_name_as_the_same_module(old, new):
    # In a fresh process, so that neither name is imported beforehand; the former name
    # must not load the module before it is asked for.
    script = (f"import sys; import disentangle_tf; "
              f"assert 'disentangle_tf.{new}' not in sys.modules; "
              f"import disentangle_tf.{old} as old; import disentangle_tf.{new} as new; "
              f"print(old is new, old.__name__, old.__spec__.name, disentangle_tf.{old} is new)")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["True", f"disentangle_tf.{new}", f"disentangle_tf.{new}", "True"]


def test_an_unknown_module_of_the_package_is_still_not_found():
    with pytest.raises(ModuleNotFoundError, match="disentangle_tf.no_such_module"):
        import disentangle_tf.no_such_module  # noqa: F401
