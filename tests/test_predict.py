"""``python -m disentangle_tf.predict``: its inputs (files, directories, patterns, run
directories), its checks of --output before any work, and a CSV written whole or not at all."""

import os

import numpy as np
import pytest
from PIL import Image

from conftest import EXPORTED_IMAGE_SHAPE as IMAGE_SHAPE


@pytest.fixture()
def run_predict(run_module, monkeypatch):
    """``run_predict(*args, cwd=None)``: the command run in this process, in ``cwd`` if given."""

    def run(*args, cwd=None):
        if cwd is not None:
            monkeypatch.chdir(cwd)
        return run_module("disentangle_tf.predict", *args)

    return run


def one_line_error(result, expected):
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines == [f"Error: {expected}"], result.stderr[-2000:]


def write_png(path, seed, size=(24, 30)):
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, size=size, dtype=np.uint8)
    Image.fromarray(pixels, "L").save(path, format="PNG")
    return path


@pytest.fixture
def run_dir(exported_run):
    """A directory laid out as a training run's: the SavedModel in ``saved_model/``."""
    return exported_run


@pytest.mark.parametrize("case", ["missing directory", "a file as directory", "a directory", "existing file"])
def test_output_is_checked_before_the_model_and_the_images(tmp_path, case, run_predict):
    # Neither the model nor the image exists: the answer about --output shows that it
    # came first.
    (tmp_path / "file.txt").write_text("not a directory")
    (tmp_path / "earlier.csv").write_text("earlier predictions")
    output, expected = {
        "missing directory": ("results/preds.csv", "--output results/preds.csv: directory results does not exist"),
        "a file as directory": ("file.txt/preds.csv", "--output file.txt/preds.csv: file.txt is not a directory"),
        "a directory": (".", "--output .: is a directory; expected a CSV file name"),
        "existing file": ("earlier.csv", "--output earlier.csv: file exists; choose another or pass --overwrite"),
    }[case]
    result = run_predict("--model", "no-such-model", "--output", output, "no-such-image.png", cwd=tmp_path)
    one_line_error(result, expected)
    assert (tmp_path / "earlier.csv").read_text() == "earlier predictions"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["earlier.csv", "file.txt"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes in read-only directories")
def test_output_directory_must_be_writable(tmp_path, run_predict):
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        result = run_predict("--model", "no-such-model", "--output", folder / "p.csv", "x.png")
    finally:
        folder.chmod(0o755)
    one_line_error(result, f"--output {folder / 'p.csv'}: directory {folder} is not writable")


def test_files_directories_patterns_and_a_run_directory(run_dir, tmp_path, run_predict):
    import pandas as pd

    scans = tmp_path / "scans"
    for name, seed in (("b.png", 1), ("a.png", 2), ("no_suffix", 3)):
        write_png(scans / name, seed)
    (scans / "notes.txt").write_text("not an image")
    write_png(scans / "deeper" / "c.png", 4)  # inside a subdirectory: not part of scans/
    more = tmp_path / "more"
    for name, seed in (("y.png", 5), ("x.png", 6), ("z.jpg.txt", 7)):
        write_png(more / name, seed)
    single = write_png(tmp_path / "single.png", 8)
    output = tmp_path / "preds.csv"
    result = run_predict("--model", run_dir, "--output", output, "--batch-size", 2,
                         single, scans, f"{more}/*.png", f"{tmp_path}/**/c.png")
    assert result.returncode == 0, result.stderr[-2000:]
    table = pd.read_csv(output)
    assert list(table["path"]) == [
        str(single),
        str(scans / "a.png"), str(scans / "b.png"), str(scans / "no_suffix"),  # by content, sorted
        str(more / "x.png"), str(more / "y.png"),
        str(scans / "deeper" / "c.png"),
    ]
    for task, classes in (("a", 2), ("b", 3)):
        probabilities = table[[f"{task}_probability_{k}" for k in range(classes)]].to_numpy()
        np.testing.assert_allclose(probabilities.sum(1), 1.0, atol=1e-5)
        assert list(table[f"{task}_predicted"]) == list(probabilities.argmax(1))
    seen = {(0, 0), (1, 1), (1, 2)}  # the fixture's training combinations
    assert list(table["combination_seen_in_training"]) == [row in seen for row in zip(table["a_predicted"],
                                                                                       table["b_predicted"])]
    # The images differ, and so do their predictions: rows are not copies of one another.
    probabilities = table.drop(columns=["path", "combination_seen_in_training"]).to_numpy(float).round(6)
    assert len({tuple(row) for row in probabilities}) == len(table)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["more", "preds.csv", "scans", "single.png"]


def test_a_file_of_a_directory_named_as_an_image_that_is_none_is_refused_not_skipped(run_dir, tmp_path,
                                                                                     run_predict):
    scans = tmp_path / "scans"
    write_png(scans / "a.png", 1)
    (scans / "notes.txt").write_text("not an image")  # not named as an image: left out
    (scans / "bad.PNG").write_text("a text file with an image's name")
    result = run_predict("--model", run_dir, "--output", tmp_path / "p.csv", scans)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"{scans / 'bad.PNG'}: cannot decode" in result.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "p.csv").exists()


@pytest.mark.parametrize("kind", ["empty directory", "pattern"])
def test_images_that_name_no_file(run_dir, tmp_path, kind, run_predict):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("not an image")
    argument = {"empty directory": tmp_path / "empty", "pattern": tmp_path / "*.png"}[kind]
    result = run_predict("--model", run_dir, "--output", tmp_path / "p.csv", argument)
    what = "directory holds no image file" if kind == "empty directory" else "pattern matches no file"
    one_line_error(result, f"IMAGES {argument}: {what}")
    assert not (tmp_path / "p.csv").exists()


def test_failure_after_some_batches_leaves_the_earlier_file_whole(run_dir, tmp_path, run_predict):
    good = [write_png(tmp_path / f"{k}.png", k) for k in range(3)]
    # A PNG signature and a cut-off stream: it passes the check of every file's
    # header, and fails when its batch is decoded, after three others.
    broken = tmp_path / "3.png"
    broken.write_bytes(write_png(tmp_path / "whole.png", 9).read_bytes()[:60])
    output = tmp_path / "preds.csv"
    output.write_text("earlier predictions\n")
    result = run_predict("--model", run_dir, "--output", output, "--overwrite", "--batch-size", 1,
                         *good, broken)
    assert result.returncode == 2, result.stderr[-2000:]
    assert str(broken) in result.stderr and "Traceback" not in result.stderr
    assert output.read_text() == "earlier predictions\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["0.png", "1.png", "2.png", "3.png", "preds.csv",
                                                          "whole.png"]


class _FailsWhileWriting:
    """Stands for a DataFrame whose writing stops half-way (a full disk)."""

    def to_csv(self, path, index):
        with open(path, "w") as stream:
            stream.write("path,a_predicted\nx.png,")
        raise OSError(28, "No space left on device")


def test_csv_is_written_whole_or_not_at_all(tmp_path):
    from disentangle_tf.cli.predict import write_csv_atomically

    output = tmp_path / "preds.csv"
    output.write_text("earlier predictions\n")
    with pytest.raises(OSError, match="No space left"):
        write_csv_atomically(_FailsWhileWriting(), output, overwrite=True)
    assert output.read_text() == "earlier predictions\n"
    assert [p.name for p in tmp_path.iterdir()] == ["preds.csv"]  # no partial file left


def test_csv_replaces_a_file_only_with_overwrite(tmp_path):
    import pandas as pd

    from disentangle_tf.cli.common import UserError
    from disentangle_tf.cli.predict import write_csv_atomically

    output = tmp_path / "preds.csv"
    table = pd.DataFrame({"path": ["x.png"], "a_predicted": ["yes"]})
    write_csv_atomically(table, output, overwrite=False)
    assert output.read_text() == "path,a_predicted\nx.png,yes\n"
    # A file that appeared since the check of --output is not replaced without --overwrite.
    output.write_text("someone else's file\n")
    with pytest.raises(UserError, match="file exists"):
        write_csv_atomically(table, output, overwrite=False)
    assert output.read_text() == "someone else's file\n"
    assert [p.name for p in tmp_path.iterdir()] == ["preds.csv"]


@pytest.mark.parametrize("seed", [0])
def test_constant_images_are_predicted_with_one_warning_line(run_dir, tmp_path, seed, run_predict):
    import pandas as pd

    rng = np.random.default_rng(seed)
    count = int(rng.integers(3, 7))
    flat = sorted(rng.choice(count, size=int(rng.integers(1, count)), replace=False).tolist())
    paths = []
    for k in range(count):
        path = tmp_path / "scans" / f"{k}.png"
        if k in flat:
            path.parent.mkdir(parents=True, exist_ok=True)
            side = (1, 1) if rng.random() < 0.5 else (24, 30)
            Image.fromarray(np.full(side, rng.integers(256), np.uint8), "L").save(path, format="PNG")
        else:
            write_png(path, seed=k)
        paths.append(path)
    output = tmp_path / "preds.csv"
    result = run_predict("--model", run_dir, "--output", output, "--batch-size", 2, tmp_path / "scans")
    assert result.returncode == 0, result.stderr[-2000:]
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines == [f"Warning: {len(flat)} of the {count} images are constant (every pixel the same; first: "
                     f"{paths[flat[0]]}): such an image is read as zeros, so its prediction says nothing about it"]
    assert list(pd.read_csv(output)["path"]) == [str(p) for p in paths]


def test_a_file_named_by_several_arguments_is_predicted_once_at_its_first_place(tmp_path, monkeypatch):
    from disentangle_tf.cli.predict import expand_image_arguments

    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    names = [f"scans/{k}.png" for k in range(6)]
    for k, name in enumerate(names):
        write_png(tmp_path / name, k, size=(4, 4))
    # Ways to name the files: the directory, a pattern, every file by itself under two spellings.
    spellings = {"scans": sorted(names), "scans/*.png": sorted(names),
                 **{name: [name] for name in names}, **{f"./{name}": [name] for name in names}}
    for _ in range(30):
        arguments = list(rng.choice(list(spellings), size=int(rng.integers(1, 8))))
        expected, seen = [], set()
        for argument in arguments:
            for name in spellings[argument]:
                if name not in seen:
                    seen.add(name)
                    expected.append(name)
        got = expand_image_arguments(arguments)
        assert [os.path.normpath(path) for path in got] == expected, arguments
        first = {}  # the spelling of each file's first appearance is kept
        for argument in arguments:
            for name in spellings[argument]:
                first.setdefault(name, argument if argument.startswith("./") else None)
        for path, name in zip(got, expected):
            assert path.startswith("./") == (first[name] is not None), (arguments, path)
