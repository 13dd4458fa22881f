"""``python -m disentangle_tf.predict``: run an exported model on image files.

Example::

    python -m disentangle_tf.predict --model runs/demo --output preds.csv scans/ 'more/*.png' a.dcm

``--model`` is a SavedModel directory or the directory of the training run that wrote
one (``runs/demo/saved_model``): the package's export, whose outputs are each task's
probabilities, or Keras's ``model.export()`` of a Disentangler, whose outputs are each
task's logits (softmaxed here; its classes are numbered); any other model is refused in
one line (:func:`disentangle_tf.export.load_exported_model`). IMAGES are image files, directories (the image files
directly inside, by name) and quoted glob patterns (``**`` descends into
subdirectories). Every file is read by :func:`disentangle_tf.data.images.load_images`
(PNG, JPEG, BMP, GIF, TIFF, DICOM), converted to the model's channels, resized to its
input size and z-scored per image, as in training.

The CSV has one row per image: its path and, for every task, the probability of each
class and the predicted class; and, for a model that records the combinations of labels
of its training data (the package's export of a training run), ``combination_seen_in_training``:
``true`` where the predicted classes form a combination present in training, ``false``
where the model predicts a combination it never saw (docs/serving.rst says what that can
and cannot tell). For a model without the record (Keras's ``model.export()``) the column
is left out and one line on stderr says so. ``--output`` is checked before the model is loaded or
any image decoded (its directory must exist and be writable; an existing file is
replaced only with ``--overwrite``), and written only once every image is predicted,
through a temporary file renamed into place, so that a failure never leaves a partial
file.
"""

from __future__ import annotations

import glob
import os
import pathlib
import warnings

import click

from ..errors import DataWarning
from .common import UserError, quiet_tensorflow

_GLOB_CHARACTERS = "*?["


def check_output_file(output: pathlib.Path, overwrite: bool) -> None:
    """Check that a CSV file may be written at ``output``, writing nothing.

    Raises:
        UserError: if ``output`` is a directory, its directory does not exist or is not
            writable, or the file exists and ``overwrite`` is false.
    """
    if output.is_dir():
        raise UserError(f"--output {output}: is a directory; expected a CSV file name")
    folder = output.parent
    if not folder.exists():
        raise UserError(f"--output {output}: directory {folder} does not exist")
    if not folder.is_dir():
        raise UserError(f"--output {output}: {folder} is not a directory")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UserError(f"--output {output}: directory {folder} is not writable")
    if output.exists() and not overwrite:
        raise UserError(f"--output {output}: file exists; choose another or pass --overwrite")


#: Names that promise an image: a file so named is read (and refused if it is not one).
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".gif", ".bmp", ".tif", ".tiff", ".dcm", ".dicom"})


def _is_image_file(path: pathlib.Path) -> bool:
    """Whether ``path`` is a file of one of the formats the image reader knows, by content,
    or named as an image (so that a damaged image is reported, not skipped).

    A file that cannot be read counts as one, so that reading it names the problem.
    """
    from ..data.images import sniff_format

    if not path.is_file():
        return False
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return True
    try:
        with open(path, "rb") as stream:
            return sniff_format(stream.read(132)) is not None  # it reads a file's first 132 bytes
    except OSError:
        return True  # unreadable: kept, for the reader to name the file and the reason


def _expand_one(argument: str) -> list[str]:
    path = pathlib.Path(argument)
    if path.is_dir():
        found = sorted(str(child) for child in path.iterdir() if _is_image_file(child))
        if not found:
            raise UserError(f"IMAGES {argument}: directory holds no image file")
        return found
    if path.exists() or not any(character in argument for character in _GLOB_CHARACTERS):
        return [argument]  # a file, or a missing one that the reader reports
    matches = sorted(glob.glob(argument, recursive=True))
    if not matches:
        raise UserError(f"IMAGES {argument}: pattern matches no file")
    found = []
    for match in matches:
        found.extend(_expand_one(match) if pathlib.Path(match).is_dir() else [match])
    return found


def expand_image_arguments(arguments) -> list[str]:
    """Image file names from IMAGES: files as given, directories and glob patterns expanded.

    A directory stands for the image files directly inside it (recognised by their
    content, :func:`disentangle_tf.data.images.sniff_format`, or by a name in
    :data:`IMAGE_SUFFIXES`: a damaged ``.png`` is refused, a ``notes.txt`` left out), sorted by name; a glob
    pattern (``*``, ``?``, ``[...]``, ``**`` for any depth of subdirectories) for its
    matches, sorted, each a file or a directory. A path that exists is never read as a
    pattern. Files are listed in the order of the arguments, each once: a file that
    several arguments name (a directory and a pattern inside it, ``a.png`` and
    ``./a.png``) keeps its first place and the name it had there.

    Raises:
        UserError: for a directory without image files or a pattern that matches nothing.
    """
    paths = {}
    for argument in arguments:
        for path in _expand_one(str(argument)):
            paths.setdefault(os.path.normpath(os.path.abspath(path)), path)
    return list(paths.values())


def write_csv_atomically(table, output: pathlib.Path, overwrite: bool) -> None:
    """Write a pandas DataFrame to ``output`` through a temporary file in its directory.

    The temporary file is renamed over ``output`` (``os.replace``, atomic on POSIX) once
    complete, and removed if writing fails: ``output`` is either untouched or whole.

    Raises:
        UserError: if ``output`` appeared meanwhile and ``overwrite`` is false.
    """
    partial = output.with_name(f".{output.name}.{os.getpid()}.partial")
    try:
        table.to_csv(partial, index=False)
        if output.exists() and not overwrite:
            raise UserError(f"--output {output}: file exists; choose another or pass --overwrite")
        os.replace(partial, output)
    finally:
        partial.unlink(missing_ok=True)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--model", "model_dir", required=True, type=click.Path(),
              help="SavedModel directory (the package's, or a Disentangler's Keras model.export()), or the "
                   "training run's directory that holds saved_model/.")
@click.option("--output", required=True, type=click.Path(path_type=pathlib.Path),
              help="CSV file to write; its directory must exist.")
@click.option("--batch-size", type=click.IntRange(min=1), default=50, show_default=True,
              help="Images per forward pass (memory, not results).")
@click.option("--overwrite", is_flag=True, help="Replace an existing --output file.")
@click.argument("images", nargs=-1, required=True)
def main(model_dir, output, batch_size, overwrite, images):
    """Predict every task's class for IMAGES (files, directories, quoted glob patterns)."""
    check_output_file(output, overwrite)
    quiet_tensorflow()
    import pandas as pd

    from ..data.images import check_image_files, load_images
    from ..export import find_saved_model, load_exported_model
    from ..models.training_combinations import SEEN_OUTPUT

    try:
        model_dir = find_saved_model(model_dir)
    except ValueError as error:
        raise UserError(f"--model {error}") from None
    paths = expand_image_arguments(images)
    try:
        check_image_files(paths)  # every file, before any is decoded
    except ValueError as error:
        raise UserError(str(error)) from None
    try:
        model = load_exported_model(model_dir)
    except ValueError as error:
        raise UserError(f"--model {error}") from None
    if not model.flags_combinations:
        click.echo(f"--model {model_dir}: records no training combinations (as Keras's model.export()); "
                   f"the CSV has no {SEEN_OUTPUT} column", err=True)
    height, width, channels = model.image_shape
    rows = {"path": paths}
    constant = []
    for start in range(0, len(paths), batch_size):
        chunk = paths[start:start + batch_size]
        found = []
        try:
            batch = load_images(chunk, (height, width), channels, constant=found)
        except ValueError as error:
            raise UserError(str(error)) from None
        constant += [start + index for index in found]
        outputs = model(batch)
        for task in model.task_names:
            probabilities = outputs[f"{task}_probabilities"]
            names = model.class_names.get(task) or [str(k) for k in range(probabilities.shape[1])]
            for k, name in enumerate(names):
                rows.setdefault(f"{task}_probability_{name}", []).extend(probabilities[:, k].tolist())
            rows.setdefault(f"{task}_predicted", []).extend(names[k] for k in probabilities.argmax(1))
        if model.flags_combinations:
            rows.setdefault(SEEN_OUTPUT, []).extend("true" if seen else "false" for seen in outputs[SEEN_OUTPUT])
    if constant:
        warnings.warn(f"{len(constant)} of the {len(paths)} images are constant (every pixel the same; first: "
                      f"{paths[min(constant)]}): such an image is read as zeros, so its prediction says "
                      "nothing about it", DataWarning, stacklevel=2)
    write_csv_atomically(pd.DataFrame(rows), output, overwrite)
    click.echo(f"wrote {output} ({len(paths)} image{'' if len(paths) == 1 else 's'})")

