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
:class:`~disentangle_tf.data.registry.DatasetSplits`. Every problem raises a
:class:`ManifestError`, a ``ValueError`` whose one-line message names the manifest,
the row (data rows counted from 1; ``line`` counts the header as line 1) and the
column, value or file at fault.

The FETAL_PLANES_DB data set (Burgos-Artizzu et al., 2020) is read with the options
of :func:`fetal_planes_db_options`.
"""

from __future__ import annotations

import dataclasses
import pathlib
import re
import warnings
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from ..config import ConfigError, DataConfig
from ..errors import DataWarning
from ..task_spec import TaskSpec
from .images import ImageReadError, check_image_files, read_images
from .labelled_images import MISSING_LABEL, LabelledImages

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

FETAL_PLANES_DB_COLUMNS: dict[str, str] = {
    "plane": "Plane",
    "brain_plane": "Brain_plane",
    "operator": "Operator",
    "machine": "US_Machine",
}
"""Tasks that FETAL_PLANES_DB can label, and the column of each."""

MISSING_VALUES = frozenset({"", "na", "nan", "n/a", "null", "none", "#n/a"})
"""Cells that hold no value, compared stripped and lower-cased: the empty cell and the
markers that R, SPSS, Excel and pandas write for a missing value (``NA``, ``NaN``,
``N/A``, ``NULL``, ``None``, ``#N/A``). A manifest cannot use them as a split, a path
or a group, nor as a label: a missing label is refused, or with
``ManifestOptions(missing_labels="allow")`` means that the row has no label for that
task."""

_TASK_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")

MISSING_LABELS = ("refuse", "allow")
"""What a missing label cell does: stop the command, or mark the row unlabelled for
that task (label :data:`~disentangle_tf.data.labelled_images.MISSING_LABEL`)."""

MISSING_GROUP_NAME = "?"
"""Stands for a missing label in an image's group name (``"?-with"``)."""


class ManifestError(ConfigError):
    """A manifest, or an image it lists, is not what was expected (one-line message)."""


@dataclasses.dataclass
class ManifestOptions:
    """How to read a manifest.

    Args:
        tasks: task names, in model order (letters, digits, underscores). Empty: the
            keys of ``task_columns``.
        task_columns: column holding each task's labels; a task without an entry is
            read from the column of its own name.
        path_column: column holding each image's file path.
        split_column: column holding each image's split.
        separator: field separator of the CSV file (``";"`` for FETAL_PLANES_DB).
        extension: appended to every path that does not already end with it (for
            example ``".png"`` when the manifest names images without extension).
        class_names: per task, its classes in label order; a label outside them is
            an error. A task without an entry takes the sorted distinct labels of
            its column (numerically sorted when they are all integers).
        split_values: which value of ``split_column`` means which split:
            ``"train"`` and ``"val"`` are required (``"val"`` unless
            ``validation_fraction`` carves it out of training), every other entry is
            an evaluation split. Values are compared as stripped strings. Default
            ``{"train": "train", "val": "val", "test": "test"}`` (without ``"val"``
            when ``validation_fraction`` is set).
        image_root: directory that relative paths are taken from; itself relative
            to the manifest's directory. Default: the manifest's directory.
        validation_fraction: when in (0, 1), the fraction of the training rows moved
            to a ``"val"`` split, stratified by the combination of task labels
            (whole groups of ``group_column`` when it is given).
        validation_seed: seed of that draw (independent of the training seed, so
            that runs with different seeds validate on the same images).
        head_units: per task, hidden units of its head (default: the model's).
        group_column: column naming each image's group, for example its patient;
            ``None``: every image is its own group. A carved validation split takes
            whole groups, so that no group has images in both training and
            validation; a group with rows in the manifest's own training split and
            in another split draws a :class:`~disentangle_tf.errors.DataWarning`.
        missing_labels: ``"refuse"`` (default): every row needs a label for every
            task, and a missing label cell (empty or a marker of
            :data:`MISSING_VALUES`) is an error. ``"allow"``: such a cell means the
            row has no label for that task (partial labels, such as images of other
            planes that have a shadow label but no plane label); its label is
            :data:`~disentangle_tf.data.labelled_images.MISSING_LABEL` (-1), left out
            of that task's loss and scores. A row must still have at least one label.

    Raises:
        ConfigError: if the options contradict each other or a task name is invalid.
    """

    tasks: Sequence[str] = ()
    task_columns: Mapping[str, str] | None = None
    path_column: str = "path"
    split_column: str = "split"
    separator: str = ","
    extension: str = ""
    class_names: Mapping[str, Sequence[str]] | None = None
    split_values: Mapping[str, Any] | None = None
    image_root: str | pathlib.Path | None = None
    validation_fraction: float = 0.0
    validation_seed: int = 0
    head_units: Mapping[str, Sequence[int]] | None = None
    group_column: str | None = None
    missing_labels: str = "refuse"

    def __post_init__(self):
        columns = dict(self.task_columns or {})
        tasks = tuple(self.tasks) if self.tasks else tuple(columns)
        if isinstance(self.tasks, str):
            tasks = (self.tasks,)
        if not tasks:
            raise ConfigError("manifest options: name at least one task (tasks or task_columns)")
        for task in tasks:
            if not isinstance(task, str) or not _TASK_NAME.match(task):
                raise ConfigError(
                    f"manifest options: task name {task!r}: expected letters, digits and "
                    "underscores, starting with a letter"
                )
        if len(set(tasks)) != len(tasks):
            raise ConfigError(f"manifest options: task names repeat: {', '.join(tasks)}")
        unknown = sorted(set(columns) - set(tasks))
        if unknown:
            raise ConfigError(
                f"manifest options: task_columns names tasks not in tasks: {', '.join(unknown)}"
            )
        self.tasks = tasks
        self.task_columns = {task: str(columns.get(task, task)).strip() for task in tasks}

        for task in self.class_names or {}:
            if task not in tasks:
                raise ConfigError(f"manifest options: class_names for unknown task {task!r}")
        self.class_names = {
            task: tuple(str(name).strip() for name in names)
            for task, names in (self.class_names or {}).items()
        }
        for task, names in self.class_names.items():
            if len(names) < 2 or len(set(names)) != len(names):
                raise ConfigError(
                    f"manifest options: class_names of task {task!r} must be at least two "
                    f"distinct names; got {list(names)}"
                )
        for task in self.head_units or {}:
            if task not in tasks:
                raise ConfigError(f"manifest options: head_units for unknown task {task!r}")
        self.head_units = {
            task: tuple(int(u) for u in units) for task, units in (self.head_units or {}).items()
        }

        fraction = self.validation_fraction
        if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 <= fraction < 1:
            raise ConfigError(
                f"manifest options: validation_fraction must be a number in [0, 1); got {fraction!r}"
            )
        if self.split_values is None:
            defaults = {"train": "train", "val": "val", "test": "test"}
            if fraction > 0:
                del defaults["val"]
            self.split_values = defaults
        self.split_values = {str(k): str(v).strip() for k, v in self.split_values.items()}
        if "train" not in self.split_values:
            raise ConfigError("manifest options: split_values needs a 'train' entry")
        if fraction > 0 and "val" in self.split_values:
            raise ConfigError(
                "manifest options: give either a 'val' entry in split_values or a "
                "validation_fraction, not both"
            )
        if fraction == 0 and "val" not in self.split_values:
            raise ConfigError(
                "manifest options: split_values needs a 'val' entry (or set validation_fraction)"
            )
        values = list(self.split_values.values())
        if len(set(values)) != len(values):
            raise ConfigError(f"manifest options: split_values repeat a value: {self.split_values}")
        for name in ("path_column", "split_column"):
            setattr(self, name, str(getattr(self, name)).strip())
        self.group_column = (str(self.group_column).strip() if self.group_column else "") or None
        if not self.separator:
            raise ConfigError("manifest options: separator must not be empty")
        if self.missing_labels not in MISSING_LABELS:
            raise ConfigError(
                f"manifest options: missing_labels must be one of {', '.join(MISSING_LABELS)}; "
                f"got {self.missing_labels!r}"
            )

    @property
    def split_names(self) -> tuple[str, ...]:
        """Every split, training and validation first."""
        names = ["train", "val"] + [n for n in self.split_values if n not in ("train", "val")]
        return tuple(names)


def fetal_planes_db_options(
    tasks: Sequence[str] = ("plane",),
    image_root: str | pathlib.Path = "Images",
    validation_fraction: float = 0.1,
    validation_seed: int = 0,
    group_column: str | None = "Patient_num",
    missing_labels: str = "refuse",
) -> ManifestOptions:
    """Options reading FETAL_PLANES_DB's ``FETAL_PLANES_DB_data.csv``.

    The manifest is semicolon-separated with the columns ``Image_name`` (file name
    without ``.png``), ``Patient_num``, ``Plane``, ``Brain_plane``, ``Operator``,
    ``US_Machine`` and ``Train`` (1: training, 0: test; the header may spell it
    ``"Train "``), and the images are in ``Images/`` beside it. The data set has no
    validation split, so a seeded stratified ``validation_fraction`` of the training
    images becomes ``"val"``, taking whole patients (a patient has several, often
    near-identical, frames; the release's own train/test split is patient-disjoint);
    the test images form the evaluation split ``"test"``.

    Args:
        tasks: tasks to read, each a key of ``FETAL_PLANES_DB_COLUMNS``: ``"plane"``
            (six classes), ``"brain_plane"``, ``"operator"``, ``"machine"``.
        image_root: image directory, relative to the manifest's directory.
        validation_fraction: fraction of the training images used for validation.
        validation_seed: seed of that draw.
        group_column: the column of patients, kept whole by the draw (``None``:
            draw images, not patients).
        missing_labels: ``"refuse"`` or ``"allow"`` (:class:`ManifestOptions`).

    Returns:
        The :class:`ManifestOptions`.

    Example:
        >>> options = fetal_planes_db_options()
        >>> options.path_column, options.separator, options.split_values
        ('Image_name', ';', {'train': '1', 'test': '0'})
    """
    tasks = (tasks,) if isinstance(tasks, str) else tuple(tasks)
    unknown = [task for task in tasks if task not in FETAL_PLANES_DB_COLUMNS]
    if unknown:
        raise ConfigError(
            f"FETAL_PLANES_DB: unknown task {unknown[0]!r}; expected some of: "
            + ", ".join(FETAL_PLANES_DB_COLUMNS)
        )
    return ManifestOptions(
        tasks=tasks,
        task_columns={task: FETAL_PLANES_DB_COLUMNS[task] for task in tasks},
        path_column="Image_name",
        split_column="Train",
        separator=";",
        extension=".png",
        split_values={"train": "1", "test": "0"},
        image_root=image_root,
        validation_fraction=validation_fraction,
        validation_seed=validation_seed,
        group_column=group_column,
        missing_labels=missing_labels,
    )


# -------------------------------------------------------------------------- reading


def _where(source: pathlib.Path, index: int) -> str:
    """``"<manifest> row R (line L)"`` for the data row at 0-based ``index``."""
    return f"{source} row {index + 1} (line {index + 2})"


def _quote_list(values) -> str:
    values = [repr(v) for v in values]
    if len(values) > 12:
        values = values[:12] + [f"... ({len(values) - 12} more)"]
    return ", ".join(values)


def _first_line(text: object) -> str:
    lines = [line.strip() for line in str(text).strip().splitlines() if line.strip()]
    return lines[0] if lines else type(text).__name__


def _sorted_labels(values) -> tuple[str, ...]:
    """Distinct labels, sorted numerically if they are all integers."""
    distinct = set(values)
    try:
        return tuple(sorted(distinct, key=lambda v: (int(v), v)))
    except ValueError:
        return tuple(sorted(distinct))


def is_missing(cells) -> np.ndarray:
    """Which cells hold no value: empty, or a marker of :data:`MISSING_VALUES`.

    Every decision on missing cells is taken here.

    Args:
        cells: the cells of a manifest column, as strings.

    Returns:
        A boolean array of the shape of ``cells``, True where a cell is missing.
    """
    cells = np.asarray(cells, dtype=object)
    flags = [str(cell).strip().lower() in MISSING_VALUES for cell in cells.ravel()]
    return np.array(flags, dtype=bool).reshape(cells.shape)


def _refuse_missing(source: pathlib.Path, cells, column: str, what: str, needed: str) -> None:
    """Raise a :class:`ManifestError` naming the first missing cell of a column, if any.

    ``what`` follows the column's name (``" (task 'plane')"``); ``needed`` ends the
    message (what every row must have).
    """
    missing = is_missing(cells)
    if missing.any():
        index = int(np.flatnonzero(missing)[0])
        cell = cells[index]
        state = "is empty" if cell == "" else f"is missing: {cell!r} marks a missing value"
        raise ManifestError(f"{_where(source, index)}: column {column!r}{what} {state}; {needed}")


def _carve_validation(
    frame: pd.DataFrame, tasks, fraction: float, seed: int, groups: np.ndarray | None = None
) -> np.ndarray:
    """Training rows chosen for validation: a seeded, stratified ``fraction``, whole groups.

    Every group (``groups[i]`` names row ``i``'s group; ``None``: each row is its own
    group) goes wholly to validation or stays wholly in training. A group's stratum is
    the combination of task labels most of its rows have (ties: the first in sorted
    order). Groups are ordered by stratum and, within it, randomly; walking that order,
    a group is chosen when taking it leaves the number of chosen rows at least as close
    to ``fraction`` of the rows walked so far (rounded) as leaving it would. The split
    thus takes ``fraction`` of the rows to within about half the largest group, and each
    stratum gives up its share to within about one group; with one row per group (as
    without ``groups``), to within one row.

    Returns:
        The chosen rows' positions in ``frame``, sorted (int64).
    """
    train = np.flatnonzero(frame["split"].to_numpy() == "train")
    if len(train) == 0:
        return train
    rng = np.random.default_rng(seed)
    strata = frame.iloc[train][list(tasks)].astype(str).agg("\x1f".join, axis=1).to_numpy()
    if groups is None:
        group_of = np.arange(len(train))
    else:
        names = pd.Series(np.asarray(groups)[train])
        group_of = pd.factorize(names)[0]  # numbered by first appearance
    count = int(group_of.max()) + 1
    sizes = np.bincount(group_of, minlength=count)
    majority = (
        pd.DataFrame({"group": group_of, "stratum": strata})
        .value_counts()
        .rename("rows")
        .reset_index()
        .sort_values(["group", "rows", "stratum"], ascending=[True, False, True])
        .drop_duplicates("group")
        .sort_values("group")["stratum"]
        .to_numpy()
    )
    order = np.lexsort((rng.random(count), majority))
    chosen = np.zeros(count, dtype=bool)
    walked = taken = 0
    for group in order:
        walked += int(sizes[group])
        target = int(np.floor(walked * fraction + 0.5))
        if 2 * taken + sizes[group] <= 2 * target:
            chosen[group] = True
            taken += int(sizes[group])
    return np.sort(train[chosen[group_of]])


def _spanning_groups(source: pathlib.Path, frame: pd.DataFrame, groups: np.ndarray, column: str) -> list[str]:
    """One warning per split sharing groups with the training split of the manifest."""
    split = frame["split"].to_numpy()
    in_train = set(groups[split == "train"])
    messages = []
    for name in dict.fromkeys(split):
        if name == "train":
            continue
        shared = sorted(in_train & set(groups[split == name]))
        if shared:
            messages.append(
                f"{source}: {len(shared)} group(s) of column {column!r} have rows in split "
                f"'train' and in split {name!r} (first: {shared[0]!r}); {name!r} is not "
                "independent of training"
            )
    return messages


def _rare_classes(source: pathlib.Path, frame: pd.DataFrame, class_names, tasks) -> list[str]:
    """One warning per class with fewer than two training images."""
    split = frame["split"].to_numpy()
    messages = []
    for task in tasks:
        labels = frame[task].to_numpy()
        for k, name in enumerate(class_names[task]):
            count = int(np.sum(labels[split == "train"] == k))
            if count >= 2:
                continue
            elsewhere = {s: int(np.sum(labels[split == s] == k)) for s in dict.fromkeys(split) if s != "train"}
            elsewhere = ", ".join(
                f"{s!r} ({n} image{'' if n == 1 else 's'})" for s, n in elsewhere.items() if n
            )
            if count == 0 and elsewhere:
                messages.append(
                    f"{source}: task {task!r}: class {name!r} has no training image but appears in {elsewhere}"
                )
            else:
                image = "image" if count == 1 else "images"
                messages.append(
                    f"{source}: task {task!r}: class {name!r} has {count} training {image} "
                    "(fewer than 2)"
                )
    return messages


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
        missing and ``options.missing_labels`` is ``"allow"``). ``frame.attrs`` holds
        ``"class_names"`` (per task, its classes in label order), ``"splits"`` (split
        names, training and validation first) and ``"source"`` (the manifest path).

    Raises:
        ManifestError: with a one-line message, if the manifest is missing or cannot
            be parsed; a column is missing (naming the columns present); a split,
            path or group cell is missing (empty or a marker of
            :data:`MISSING_VALUES`; naming row and column), or a label cell is
            (unless ``options.missing_labels`` is ``"allow"``; a row missing every
            label is refused even then); a task has fewer than two classes; a split value or a label is
            unknown (naming row, column, value and the expected values); a split is
            empty; an image file is missing (naming row and path); or an image file
            cannot be read (its format is unknown; a DICOM file needs pydicom, has a
            photometric interpretation not read, or a transfer syntax whose decoder
            is not installed: :func:`~disentangle_tf.data.images.check_image_files`).

    Warns:
        DataWarning: one line per class of a task with fewer than two training images
            (or none, while an evaluation split has some), and per split sharing groups
            of ``group_column`` with the manifest's training split.
    """
    source = pathlib.Path(csv_path)
    if not source.is_file():
        raise ManifestError(f"{source}: manifest file not found")
    try:
        raw = pd.read_csv(
            source,
            sep=options.separator if options else ",",
            dtype=str,
            keep_default_na=False,
            encoding="utf-8-sig",
            skip_blank_lines=True,
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise ManifestError(f"{source}: cannot read as CSV: {_first_line(error)}") from None
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
        raise ManifestError(
            f"{_where(source, index)}: column {options.split_column!r} has value "
            f"{split_cells[index]!r}; expected one of: {_quote_list(by_value)}"
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
        names = options.class_names.get(task) or _sorted_labels(cells[given])
        if len(names) < 2:
            found = f"a single class {names[0]!r}" if names else "no label (every cell is missing)"
            raise ManifestError(f"{source}: column {column!r} (task {task!r}) has {found}; a task needs at least two")
        lookup = {name: k for k, name in enumerate(names)}
        unknown = given & ~np.isin(cells, names)
        if unknown.any():
            index = int(np.flatnonzero(unknown)[0])
            raise ManifestError(
                f"{_where(source, index)}: column {column!r} has label {cells[index]!r}, "
                f"not a class of task {task!r}; expected one of: {_quote_list(names)}"
            )
        frame[task] = np.array(
            [lookup[c] if g else MISSING_LABEL for c, g in zip(cells, given)], dtype=np.int64
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
        notes += _spanning_groups(source, frame, groups, options.group_column)
    given_train = int((frame["split"] == "train").sum())
    if options.validation_fraction > 0:
        chosen = _carve_validation(
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
        if not path.is_file():
            raise ManifestError(f"{_where(source, index)}: image file not found: {path}")
        paths.append(str(path))
    frame.insert(1, "path", paths)
    try:
        check_image_files(paths)
    except ImageReadError as error:
        raise ManifestError(f"{_where(source, error.index)}: {error}") from None

    for note in notes + _rare_classes(source, frame, class_names, options.tasks):
        warnings.warn(note, DataWarning, stacklevel=2)
    frame.attrs["class_names"] = class_names
    frame.attrs["splits"] = options.split_names
    frame.attrs["source"] = str(source)
    return frame


# ------------------------------------------------------------------------- decoding


def _decode_failure(source, frame: pd.DataFrame, index: int, reason: str) -> ManifestError:
    return ManifestError(
        f"{_where(pathlib.Path(source), int(frame['row'].iloc[index]) - 1)}: cannot decode image "
        f"{frame['path'].iloc[index]}: {reason}"
    )


def _decode_all(frame: pd.DataFrame, image_size, channels: int) -> np.ndarray:
    """Every image of the manifest, in row order, as ``(N, H, W, channels)`` float32.

    Read by :func:`~disentangle_tf.data.images.read_images`; the files were checked
    by :func:`read_manifest`.
    """
    source = frame.attrs.get("source", "manifest")
    try:
        return read_images(frame["path"].tolist(), image_size, channels, check=False)
    except ImageReadError as error:
        raise _decode_failure(source, frame, error.index, error.reason) from None


def load_manifest(
    csv_path,
    options: ManifestOptions | None = None,
    image_size=DataConfig.image_size,
    channels: int = 1,
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

    Returns:
        A :class:`~disentangle_tf.data.registry.DatasetSplits` training on
        ``"train"``, validating on ``"val"`` and evaluating ``"val"`` and every
        other split of ``options.split_values``. Tasks carry their class names; each
        image's group is its class names joined by ``"-"`` (:data:`MISSING_GROUP_NAME`
        for a missing label). A missing label is
        :data:`~disentangle_tf.data.labelled_images.MISSING_LABEL` (-1).

    Raises:
        ManifestError: as :func:`read_manifest`, or naming the row and file of an
            image that cannot be decoded.
    """
    from .registry import DatasetSplits  # the registry imports this module's siblings

    if channels not in (1, 3):
        raise ConfigError(f"channels must be 1 or 3; got {channels!r}")
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
    images = _decode_all(frame, image_size, channels)
    groups = np.array(
        ["-".join(MISSING_GROUP_NAME if k == MISSING_LABEL else class_names[t][k] for t, k in zip(options.tasks, ks))
         for ks in zip(*(frame[t].to_numpy() for t in options.tasks))]
    )
    splits = {}
    for name in frame.attrs["splits"]:
        mask = (frame["split"] == name).to_numpy()
        splits[name] = LabelledImages(
            images=images[mask],
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
