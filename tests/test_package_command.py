"""``python -m disentangle_tf`` lists the commands and runs them; a manifest path written
with Windows backslashes that names no file says that paths use ``/``."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

ROOT = pathlib.Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def no_tensorflow(tmp_path_factory):
    """A PYTHONPATH on which importing TensorFlow fails: a command that loads it crashes."""
    folder = tmp_path_factory.mktemp("no_tensorflow")
    (folder / "tensorflow").mkdir()
    (folder / "tensorflow" / "__init__.py").write_text("raise ImportError('tensorflow was imported')\n")
    return folder


def _package(folder, *args):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(folder), str(ROOT)])}
    return subprocess.run([sys.executable, "-m", "disentangle_tf", *args], capture_output=True, text=True,
                          env=env, timeout=120)


def test_the_package_lists_its_commands_without_loading_tensorflow(no_tensorflow):
    for args in ((), ("--help",)):
        shown = _package(no_tensorflow, *args)
        assert shown.returncode == 0, shown.stderr
        assert shown.stdout.startswith("Usage: python -m disentangle_tf ")
        listed = shown.stdout.split("Commands:\n", 1)[1].splitlines()
        assert [line.split()[0] for line in listed] == ["train", "predict", "convert", "reproduce", "report"]
        assert all(len(line) <= 110 and not line.endswith("...") for line in listed)


def test_the_package_runs_a_command_and_refuses_an_unknown_one_in_one_line(no_tensorflow, tmp_path):
    shown = _package(no_tensorflow, "predict", "--help")
    assert shown.returncode == 0 and shown.stdout.startswith("Usage: python -m disentangle_tf predict ")
    refused = _package(no_tensorflow, "train", "--epochs", "0", "--output-dir", str(tmp_path / "out"))
    assert refused.returncode == 2 and refused.stderr.strip().splitlines() == ["Error: --epochs must be >= 1; got 0"]
    assert not (tmp_path / "out").exists()
    unknown = _package(no_tensorflow, "trian")
    assert unknown.returncode == 2 and unknown.stderr.strip().splitlines() == ["Error: No such command 'trian'."]


def _manifest(folder: pathlib.Path, first_path: str) -> pathlib.Path:
    """A manifest of twelve images, the first row's path replaced by ``first_path``."""
    rows = []
    for k in range(12):
        name = f"img/{k:02d}.png"
        (folder / "img").mkdir(exist_ok=True)
        Image.fromarray(np.random.default_rng(k).integers(0, 256, (8, 8), dtype=np.uint8), "L").save(folder / name)
        rows.append(f"{first_path if k == 0 else name},{'ab'[k % 2]},{('train', 'val', 'test')[max(0, k - 6) // 2]}")
    manifest = folder / "m.csv"
    manifest.write_text("path,plane,split\n" + "\n".join(rows) + "\n")
    return manifest


@pytest.mark.parametrize("cell, hint", [("img\\00.png", True), ("img/missing.png", False)])
def test_an_image_path_with_backslashes_that_names_no_file_says_paths_use_slashes(tmp_path, cell, hint):
    from disentangle_tf.data.manifest import read_manifest
    from disentangle_tf.data.manifest_options import ManifestError, ManifestOptions

    manifest = _manifest(tmp_path, cell)
    with pytest.raises(ManifestError) as error:
        read_manifest(manifest, ManifestOptions(tasks=("plane",)))
    message = str(error.value)
    assert message.startswith(f"{manifest} row 1 (line 2): image file not found: ") and "\n" not in message
    assert message.endswith("; paths use '/' (found '\\\\')") == hint


def test_the_train_command_says_so_in_one_line_for_a_manifest_named_with_backslashes(tmp_path, capsys):
    from disentangle_tf.cli.common import run_command
    from disentangle_tf.cli.train import main

    manifest = _manifest(tmp_path, "img\\00.png")
    for data, expected in ((manifest, f"{manifest} row 1 (line 2): image file not found: "),
                           (f"{tmp_path}\\m.csv", f"{tmp_path}\\m.csv: manifest file not found")):
        capsys.readouterr()
        with pytest.raises(SystemExit) as stopped:
            run_command(main, ["--dataset", "csv", "--data", str(data), "--task", "plane",
                               "--output-dir", str(tmp_path / "out")], prog_name="train")
        err = capsys.readouterr().err.strip().splitlines()
        assert stopped.value.code == 2 and len(err) == 1, err
        assert err[0].startswith(f"Error: {expected}") and err[0].endswith("; paths use '/' (found '\\\\')")
        assert not (tmp_path / "out").exists()
