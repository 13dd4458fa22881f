"""Real images listed in a CSV manifest: one row per image, one column per task.

A manifest names, for every image, its file, its split and its label for every task::

    path,split,plane,shadow
    images/0001.png,train,3VV,with
    images/0002.png,val,LVOT,without
    images/0003.png,test,Abd,with

:class:`ManifestOptions` says which columns hold what, which values of the split
column mean which split, and the classes of every task. :func:`read_manifest` checks
the whole manifest before anything is trained (missing columns, missing values,
unknown labels or split values, empty splits, missing image files), and :func:`load_manifest` decodes
the images (PNG, JPEG, BMP, GIF or TIFF with Pillow, DICOM with pydicom, the ``dicom``
extra; see :mod:`disentangle_tf.data.images`) into a ready-to-train
:class:`~disentangle_tf.data.dataset_splits.DatasetSplits` (with a memory budget,
the splits that do not fit in it are decoded on demand instead). Every problem raises a
:class:`ManifestError`, a ``ValueError`` whose one-line message names the manifest,
the row (data rows counted from 1; ``line`` counts the header as line 1) and the
column, value or file at fault.

The FETAL_PLANES_DB data set (Burgos-Artizzu et al., 2020) is read with the options
of :func:`fetal_planes_db_options`.
"""

from __future__ import annotations

import pathlib
import warnings

import numpy as np
import pandas as pd

from ..errors import ConfigError, DataWarning
from ..task_spec import TaskSpec
from .arguments import DEFAULT_IMAGE_SIZE
from .dataset_splits import DatasetSplits
from .images import ImageReadError, check_image_files
from .labelled_images import MISSING_LABEL, LabelledImages
from .manifest_cells import (_first_line, _quote_list, _refuse_missing, _sorted_labels, _where, class_labels,
                             class_name, existing_manifest, is_missing, slash_hint)
from .manifest_images import decode_rows, warn_constant
from .manifest_options import (FETAL_PLANES_DB_COLUMNS, MISSING_GROUP_NAME, MISSING_LABELS, MISSING_VALUES,
                               ManifestError, ManifestOptions, fetal_planes_db_options)
from .manifest_splits import carve_validation, lookalike_classes, rare_classes, repeated_paths, spanning_groups
from .streaming import FileImageSource, LazyImages, check_memory_budget, decoded_bytes, streamed_splits

__all__ = [
    "FETAL_PLANES_DB_COLUMNS",
    "MISSING_GROUP_NAME",
    "MISSING_LABELS",
    "MISSING_VALUES",
    "ManifestError",
    "ManifestOptions",
    "fetal_planes_db_options",
    "is_missing",
    "load_manifest",
    "read_manifest",
]



def read_manifest(csv_path, options: ManifestOptions | None = None) -> pd.DataFrame:
    """Read and check a manifest; nothing is trained on a manifest that fails.

    Args:
        csv_path: the CSV file.
        options: how to read it. ``None`` reads the columns ``path`` and ``split``
            with the default split values and takes every other column as a task.

    Returns:
        A DataFrame with one row per image, in manifest order, and the columns
        ``row`` (data row, from 1), ``path`` (absolute image path), ``split`` (split
        name) and one int64 column of class indices per task (-1,
        :data:`~disentangle_tf.data.labelled_images.MISSING_LABEL`, where a label is
        missing and ``options.missing_labels`` is ``"allow"``). Labels that spell one
        number (``1``, ``1.0``, ``01``, ``+1``, ``1e0``) are one class, named by the
        number's shortest spelling (``1``), in every split alike; a task whose labels
        are all numbers has its classes in numeric order. ``frame.attrs`` holds
        ``"class_names"`` (per task, its classes in label order), ``"splits"`` (split
        names, training and validation first) and ``"source"`` (the manifest path).

    Raises:
        ManifestError: with a one-line message, if the manifest is missing or cannot
            be parsed; a column is missing (naming the columns present); a split,
            path or group cell is missing (empty or a marker of
            :data:`MISSING_VALUES`; naming row and column), or a label cell is
            (unless ``options.missing_labels`` is ``"allow"``; a row missing every
            label is refused even then); a task has fewer than two classes; a split value or a label is
            unknown (naming row, column, value and the expected values); two labels
            may or may not be one number, which the manifest cannot decide (``1,0``
            beside ``1``, naming both and their rows:
            :func:`~disentangle_tf.data.manifest_cells.class_labels`); a split is
            empty; an image file is missing (naming row and path); or an image file
            cannot be read (its format is unknown; a DICOM file needs pydicom, has a
            photometric interpretation not read, or a transfer syntax whose decoder
            is not installed: :func:`~disentangle_tf.data.images.check_image_files`).

    Warns:
        DataWarning: one line per class of a task with fewer than two training images
            (or none, while an evaluation split has some), and per split sharing groups
            of ``group_column`` with the manifest's training split.
    """
    source = existing_manifest(csv_path)
    separator = options.separator if options else ","
    try:
        with warnings.catch_warnings():
            # index_col=False: rows with more fields than the header are an error below,
            # never a first column silently taken as the index.
            warnings.simplefilter("error", pd.errors.ParserWarning)
            raw = pd.read_csv(source, sep=separator, dtype=str, keep_default_na=False, encoding="utf-8-sig",
                              skip_blank_lines=True, index_col=False)
    except pd.errors.ParserWarning:
        raise ManifestError(f"{source}: {_longer_row(source, separator)}") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise ManifestError(f"{source}: cannot read as CSV: {_first_line(error)}") from None
    header = [str(name).strip() for name in pd.read_csv(source, sep=separator, dtype=str, header=None, nrows=1,
                                                         keep_default_na=False, encoding="utf-8-sig").iloc[0]]
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        spots = ", ".join(f"{name!r} (columns {', '.join(str(k + 1) for k, h in enumerate(header) if h == name)})"
                          for name in repeated)
        raise ManifestError(f"{source}: the header names a column twice: {spots}; expected one column per name")
    raw.columns = [str(column).strip() for column in raw.columns]
    if options is None:
        tasks = [c for c in raw.columns if c not in ("path", "split")]
        if not tasks:
            raise ManifestError(f"{source}: no task columns besides 'path' and 'split'")
        options = ManifestOptions(tasks=tasks)

    groups_given = [options.group_column] if options.group_column else []
    needed = [options.path_column, options.split_column, *options.task_columns.values(), *groups_given]
    for column in needed:
        if column not in raw.columns:
            present = ", ".join(repr(c) for c in raw.columns)
            hint = ""
            if len(raw.columns) == 1:
                other = next((s for s in (";", ",", "\t", "|") if s in raw.columns[0]), None)
                if other and other != options.separator:
                    hint = f"; is the separator {other!r}?"
            raise ManifestError(f"{source}: missing column {column!r}; columns present: {present}{hint}")
    if len(raw) == 0:
        raise ManifestError(f"{source}: the manifest lists no images")
    for column in needed:
        raw[column] = raw[column].str.strip()
    roles = {options.path_column: "the image paths (path_column)", options.split_column: "the splits (split_column)",
             **({options.group_column: "the groups (group_column)"} if options.group_column else {})}
    for task, column in options.task_columns.items():
        if column in roles:
            raise ManifestError(f"{source}: task {task!r} reads column {column!r}, which holds {roles[column]}; "
                                "a task needs a column of its own labels")
        roles[column] = f"the labels of task {task!r}"

    # Splits.
    by_value = {value: name for name, value in options.split_values.items()}
    split_cells = raw[options.split_column].to_numpy()
    _refuse_missing(
        source, split_cells, options.split_column, "",
        f"expected one of: {_quote_list(by_value)}",
    )
    _refuse_missing(
        source, raw[options.path_column].to_numpy(), options.path_column, "",
        "every row needs the path of its image",
    )
    known = np.isin(split_cells, list(by_value))
    if not known.all():
        index = int(np.flatnonzero(~known)[0])
        value = split_cells[index]
        if value == "val" and options.validation_fraction > 0:
            hint = ("the manifest's own validation rows: leave out validation_fraction (--validation-fraction) to "
                    "validate on them")
        elif value in ("train", "val"):
            hint = "name the values of the training and validation rows with --train-split and --val-split"
        else:
            hint = f"to score its rows as an evaluation split of their own: --test-split {value}"
        raise ManifestError(
            f"{_where(source, index)}: column {options.split_column!r} has value "
            f"{value!r}; expected one of: {_quote_list(by_value)} ({hint})"
        )

    # Labels.
    frame = pd.DataFrame(
        {"row": np.arange(1, len(raw) + 1), "split": [by_value[v] for v in split_cells]}
    )
    class_names = {}
    allow_missing = options.missing_labels == "allow"
    for task, column in options.task_columns.items():
        cells = raw[column].to_numpy()
        if allow_missing:
            given = ~is_missing(cells)
        else:
            _refuse_missing(
                source, cells, column, f" (task {task!r})",
                "every image needs a label for every task (pass --missing-labels allow for partial labels)",
            )
            given = np.ones(len(cells), dtype=bool)
        labels = class_labels(source, cells, given, column, task)  # 1, 1.0 and 01: one class
        names = options.class_names.get(task) or _sorted_labels(labels[given])
        if len(names) < 2:
            found = f"a single class {names[0]!r}" if names else "no label (every cell is missing)"
            raise ManifestError(f"{source}: column {column!r} (task {task!r}) has {found}; a task needs at least two")
        lookup = {class_name(name): k for k, name in enumerate(names)}
        if len(lookup) < len(names):
            raise ManifestError(f"{source}: class_names of task {task!r} ({_quote_list(names)}) name one number "
                                "twice; expected one name per class")
        unknown = given & ~np.isin(labels, list(lookup))
        if unknown.any():
            index = int(np.flatnonzero(unknown)[0])
            raise ManifestError(
                f"{_where(source, index)}: column {column!r} has label {cells[index]!r}, "
                f"not a class of task {task!r}; expected one of: {_quote_list(names)}"
            )
        frame[task] = np.array(
            [lookup[c] if g else MISSING_LABEL for c, g in zip(labels, given)], dtype=np.int64
        )
        class_names[task] = tuple(names)
    unlabelled = (frame[list(options.tasks)].to_numpy() == MISSING_LABEL).all(axis=1)
    if unlabelled.any():
        index = int(np.flatnonzero(unlabelled)[0])
        columns = ", ".join(repr(options.task_columns[t]) for t in options.tasks)
        raise ManifestError(
            f"{_where(source, index)}: every label column is missing ({columns}); "
            "an image needs a label for at least one task"
        )

    # Groups, and the validation split carved out of training.
    notes = []
    groups = None
    if options.group_column:
        groups = raw[options.group_column].to_numpy()
        _refuse_missing(
            source, groups, options.group_column, " (group)", "every row needs its group"
        )
        notes += spanning_groups(source, frame, groups, options.group_column)
    given_train = int((frame["split"] == "train").sum())
    if options.validation_fraction > 0:
        chosen = carve_validation(
            frame, options.tasks, options.validation_fraction, options.validation_seed, groups
        )
        frame.loc[chosen, "split"] = "val"
    for name in options.split_names:
        if not (frame["split"] == name).any():
            carved = f"validation_fraction {options.validation_fraction} of {given_train} training rows"
            if groups is not None:
                count = len(set(groups[frame["split"].isin(["train", "val"]).to_numpy()]))
                carved += f" in {count} groups of column {options.group_column!r}"
            if name == "val" and options.validation_fraction > 0:
                reason = f"{carved} chose none"
            elif name == "train" and given_train:
                reason = f"{carved} took them all"
            else:
                reason = (
                    f"no row has value {options.split_values[name]!r} "
                    f"in column {options.split_column!r}"
                )
            raise ManifestError(f"{source}: split {name!r} is empty: {reason}")

    # Image files.
    root = source.parent
    if options.image_root is not None:
        root = root / pathlib.Path(options.image_root).expanduser()
    paths = []
    extension = options.extension
    for index, cell in enumerate(raw[options.path_column].to_numpy()):
        if extension and not cell.lower().endswith(extension.lower()):
            cell += extension
        path = pathlib.Path(cell).expanduser()
        path = (path if path.is_absolute() else root / path).absolute()
        if path.is_dir():
            raise ManifestError(f"{_where(source, index)}: {path} is a directory; expected an image file")
        if not path.is_file():
            raise ManifestError(f"{_where(source, index)}: image file not found: {path}{slash_hint(cell)}")
        paths.append(str(path))
    frame.insert(1, "path", paths)
    try:
        check_image_files(paths)
    except ImageReadError as error:
        raise ManifestError(f"{_where(source, error.index)}: {error}") from None

    for note in (notes + repeated_paths(source, frame) + rare_classes(source, frame, class_names, options.tasks)
                 + lookalike_classes(source, class_names, options.tasks, frame)):
        warnings.warn(note, DataWarning, stacklevel=2)
    frame.attrs["class_names"] = class_names
    frame.attrs["splits"] = options.split_names
    frame.attrs["source"] = str(source)
    return frame


def load_manifest(
    csv_path,
    options: ManifestOptions | None = None,
    image_size=DEFAULT_IMAGE_SIZE,
    channels: int = 1,
    memory_budget: int | None = None,
):
    """Load the images of a manifest as a data set ready for training.

    Each image is decoded, converted to ``channels`` (1: greyscale), resized
    bilinearly to ``image_size`` and z-scored on its own
    (``tf.image.per_image_standardization``), as by
    :func:`~disentangle_tf.data.images.read_images`.

    Args:
        csv_path: the manifest.
        options: how to read it (:class:`ManifestOptions`).
        image_size: ``(height, width)`` the model sees.
        channels: 1 (greyscale) or 3 (RGB).
        memory_budget: None (default): every image is decoded into memory. A number
            of bytes: the splits kept in memory, counted decoded
            (``N * H * W * channels * 4`` bytes each), fit in it together; the
            largest splits are streamed until they do
            (:func:`~disentangle_tf.data.streaming.streamed_splits`). A streamed
            split's images are a :class:`~disentangle_tf.data.streaming.LazyImages`
            decoding its files on demand (the same images, decoded again each time
            they are read); each of them is decoded once here first, to check it.
            :func:`~disentangle_tf.data.streaming.default_memory_budget` gives half
            the memory of the machine.

    Returns:
        A :class:`~disentangle_tf.data.dataset_splits.DatasetSplits` training on
        ``"train"``, validating on ``"val"`` and evaluating ``"val"`` and every
        other split of ``options.split_values``. Tasks carry their class names; each
        image's group is its class names joined by ``"-"`` (:data:`MISSING_GROUP_NAME`
        for a missing label). A missing label is
        :data:`~disentangle_tf.data.labelled_images.MISSING_LABEL` (-1).

    Warns:
        DataWarning: once, naming the row and file of the first constant image
            (every pixel the same, read as zeros) and how many others there are.

    Raises:
        ManifestError: as :func:`read_manifest`, or naming the row and file of an
            image that cannot be decoded.
        ConfigError: ``channels`` is not 1 or 3, or ``memory_budget`` is not None or
            a number >= 0.
    """
    if channels not in (1, 3):
        raise ConfigError(f"channels must be 1 or 3; got {channels!r}")
    check_memory_budget(memory_budget)
    frame = read_manifest(csv_path, options)
    if options is None:
        options = ManifestOptions(tasks=tuple(frame.attrs["class_names"]))
    class_names = frame.attrs["class_names"]
    tasks = [
        TaskSpec(
            task,
            len(class_names[task]),
            head_units=options.head_units.get(task),
            class_names=class_names[task],
        )
        for task in options.tasks
    ]
    masks = {name: (frame["split"] == name).to_numpy() for name in frame.attrs["splits"]}
    height, width = (int(side) for side in image_size)
    sizes = {name: decoded_bytes((mask.sum(), height, width, channels)) for name, mask in masks.items()}
    streamed = streamed_splits(sizes, memory_budget)
    held = np.ones(len(frame), bool)  # rows of the splits kept in memory
    for name in streamed:
        held &= ~masks[name]
    constant = np.zeros(0, np.int64)
    if streamed:
        _, constant = decode_rows(frame, ~held, (height, width), channels, keep=False)
    images, held_constant = decode_rows(frame, held, (height, width), channels)
    warn_constant(frame, np.concatenate([constant, held_constant]))
    groups = np.array(
        ["-".join(MISSING_GROUP_NAME if k == MISSING_LABEL else class_names[t][k] for t, k in zip(options.tasks, ks))
         for ks in zip(*(frame[t].to_numpy() for t in options.tasks))]
    )
    splits = {}
    for name, mask in masks.items():
        if name in streamed:
            split_images = LazyImages(FileImageSource(frame["path"].to_numpy()[mask], (height, width), channels))
        else:
            split_images = images[mask[held]]
        splits[name] = LabelledImages(
            images=split_images,
            labels={task: frame[task].to_numpy()[mask] for task in options.tasks},
            class_names=dict(class_names),
            groups=groups[mask],
        )
    return DatasetSplits(
        tasks=tasks,
        train=splits["train"],
        validation=splits["val"],
        evaluation={name: data for name, data in splits.items() if name != "train"},
    )


def _longer_row(source: pathlib.Path, separator: str) -> str:
    """What :func:`read_manifest` says of a manifest with rows longer than its header: the
    first such row (found when the separator is one character), or the count."""
    import csv

    if len(separator) == 1:
        with open(source, newline="", encoding="utf-8-sig") as handle:
            rows = csv.reader(handle, delimiter=separator)
            fields = len(next(rows))
            for line, row in enumerate(rows, start=2):
                if len(row) > fields:
                    return (f"line {line} has {len(row)} fields, the header {fields}; expected one field per column "
                            "(a separator at the end of the rows?)")
    return "a row has more fields than the header; expected one field per column"
