"""How to read a manifest (:class:`ManifestOptions`), and the values it may hold (no pandas here)."""

from __future__ import annotations

import dataclasses
import pathlib
import re
from typing import Any, Mapping, Sequence

from ..errors import ConfigError

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

RESERVED_TASK_NAMES = ("row", "path", "split")
"""Names a task cannot have: :func:`~disentangle_tf.data.manifest.read_manifest` returns
its rows with these columns beside one column per task."""

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
                    "underscores, starting with a letter; to read a column of another name, name its "
                    "task: --task NAME=COLUMN (e.g. --task 'plane_type=plane type')"
                )
        for task in tasks:
            if task in RESERVED_TASK_NAMES:
                raise ConfigError(
                    f"manifest options: task name {task!r} is reserved (a manifest's rows are read as "
                    f"{', '.join(RESERVED_TASK_NAMES)} and the tasks); to read a column called {task!r} as "
                    f"labels, give its task another name: --task NAME={task}")
        if len(set(tasks)) != len(tasks):
            raise ConfigError(f"manifest options: task names repeat: {', '.join(tasks)}")
        unknown = sorted(set(columns) - set(tasks))
        if unknown:
            raise ConfigError(
                f"manifest options: task_columns names tasks not in tasks: {', '.join(unknown)}"
            )
        self.tasks = tasks
        self.task_columns = {task: str(columns.get(task, task)).strip() for task in tasks}
        shared = [task for task in tasks if list(self.task_columns.values()).count(self.task_columns[task]) > 1]
        if shared:
            raise ConfigError(f"manifest options: tasks {', '.join(map(repr, shared))} read one column "
                              f"{self.task_columns[shared[0]]!r}; expected a column of its own for each task")

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
