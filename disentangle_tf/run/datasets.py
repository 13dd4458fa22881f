"""The data set a run's :class:`~disentangle_tf.run.config.DataConfig` names (``--dataset``).

Each loader of :mod:`disentangle_tf.data` takes plain arguments; this module maps a
configuration onto them.
"""

from __future__ import annotations

import dataclasses
import pathlib
import warnings

from .config import DataConfig, memory_budget_bytes
from .options import find_option
from ..data import digits, synthetic, ultrasound_sim
from ..data.dataset_splits import DatasetSplits
from ..errors import ConfigError, DataWarning
from ..task_spec import TaskSpec


def load_synthetic(config: DataConfig) -> DatasetSplits:
    """The paper's synthetic shapes with its split (train / val / test / unseen)."""
    check_one_channel(config)
    splits = synthetic.make_synthetic_splits(image_size=tuple(config.image_size), seed=config.seed)
    tasks = [
        TaskSpec(task, len(synthetic.CLASS_NAMES[task]), class_names=synthetic.CLASS_NAMES[task])
        for task in synthetic.TASKS
    ]
    return DatasetSplits(
        tasks=tasks,
        train=splits["train"],
        validation=splits["val"],
        evaluation={name: splits[name] for name in ("val", "test", "unseen")},
        relevant_task="shape",
    )


def load_us_sim(config: DataConfig) -> DatasetSplits:
    """Simulated fetal ultrasound with the paper's Table 1 split, scaled by ``scale``, its labelled
    shadows as conspicuous as ``shadow_salience`` says."""
    check_one_channel(config)
    data = ultrasound_sim.load_us_sim(tuple(config.image_size), seed=config.seed, scale=config.scale,
                                      shadow_salience=config.shadow_salience)
    return dataclasses.replace(data, relevant_task="plane")


def load_digits(config: DataConfig) -> DatasetSplits:
    """Real handwritten digits 0-4 with a shadow or photograph nuisance; no 3 with class 1 in training."""
    check_one_channel(config)
    return digits.load_digits_dataset(config.dataset, tuple(config.image_size), seed=config.seed)


def task_columns(tasks) -> list[tuple[str, str | None]]:
    """``--task`` values as ``(task name, column)`` pairs: ``NAME=COLUMN`` names the task
    of a column whose own name is not a task name (``plane=Plane type``); a value without
    ``=`` is both (column None: the task's own name)."""
    pairs = []
    for value in tasks:
        name, separator, column = str(value).partition("=")
        pairs.append((name.strip(), column if separator else None))
    return pairs


def manifest_options(config: DataConfig):
    """The :class:`~disentangle_tf.data.manifest.ManifestOptions` a configuration names.

    Every value of ``config.test_split`` is an evaluation split named by that value
    (``--test-split lvot_with_shadow`` is reported as ``lvot_with_shadow``), after the
    validation split, in the order given.

    Raises:
        ConfigError: if no task is named, or a test split value would be named
            ``train`` or ``val`` while another value marks that split.
    """
    from ..data.manifest_options import ManifestOptions, fetal_planes_db_options

    if config.layout == "fetal_planes_db":
        for key in FETAL_PLANES_DB_FIXED:
            value = getattr(config, key)
            if _plain(value) != _plain(find_option(key).default):
                raise ConfigError(f"{find_option(key).option} {' '.join(map(str, _plain(value)))}: the "
                                  "fetal_planes_db layout reads the release's own columns, separator and split "
                                  "values; leave it out (or use --layout generic)")
        return fetal_planes_db_options(
            tasks=config.tasks or ("plane",),
            image_root=config.image_root or "Images",
            validation_fraction=config.validation_fraction or 0.1,
            validation_seed=0,
            group_column=config.group_column or "Patient_num",
            missing_labels=config.missing_labels,
        )
    if not config.tasks:
        raise ConfigError("dataset csv: name the task columns with --task (one per task)")
    split_values = {"train": config.train_split}
    if config.val_split and not config.validation_fraction:
        split_values["val"] = config.val_split
    elif not config.val_split and not config.validation_fraction:
        raise ConfigError("--val-split '': an empty value means no validation rows in the manifest; pass "
                          "--validation-fraction F to hold out that fraction of the training rows instead")
    for value in config.test_split:
        name = str(value).strip()
        if name in ("train", "val"):
            raise ConfigError(
                f"--test-split {name}: an evaluation split cannot be named {name!r}, the name of the "
                f"{'training' if name == 'train' else 'validation'} split; rename that split value"
            )
        split_values[name] = name
    options = {"train": "--train-split", "val": "--val-split"}
    seen: dict[str, str] = {}
    for name, value in split_values.items():
        option = f"{options.get(name, '--test-split')} {str(value).strip()}"
        if str(value).strip() in seen:
            raise ConfigError(f"{option}: the same split value as {seen[str(value).strip()]}; expected a value of "
                              "its own for each split")
        seen[str(value).strip()] = option
    return ManifestOptions(
        tasks=tuple(name for name, _ in task_columns(config.tasks)),
        task_columns={name: column for name, column in task_columns(config.tasks) if column is not None} or None,
        path_column=config.path_column,
        split_column=config.split_column,
        separator=config.separator,
        extension=config.extension,
        split_values=split_values,
        image_root=config.image_root or None,
        validation_fraction=config.validation_fraction,
        group_column=config.group_column or None,
        missing_labels=config.missing_labels,
    )


#: The keys the fetal_planes_db layout sets itself (:func:`~disentangle_tf.data.manifest_options.fetal_planes_db_options`).
FETAL_PLANES_DB_FIXED = ("path_column", "split_column", "separator", "extension", "train_split", "val_split",
                         "test_split")


def _plain(value):
    return tuple(value) if isinstance(value, (list, tuple)) else (value,)


def load_csv(config: DataConfig) -> DatasetSplits:
    """Images listed in a CSV manifest (PNG, JPEG, BMP; DICOM with pydicom)."""
    from ..data.manifest import load_manifest  # pandas and TensorFlow: imported when chosen

    return load_manifest(config.data, manifest_options(config), tuple(config.image_size), config.channels,
                         memory_budget=memory_budget_bytes(config.memory_budget))


def load_hdf5_file(config: DataConfig) -> DatasetSplits:
    """A data set written by ``python -m disentangle_tf.convert``."""
    from ..data.hdf5 import read_hdf5  # h5py: imported when chosen

    path = _hdf5_file(config)
    data = read_hdf5(path, memory_budget=memory_budget_bytes(config.memory_budget))
    *stored, channels = data.train.image_shape
    if tuple(stored) != tuple(config.image_size):
        raise ConfigError(
            f"--data {path}: images are {stored[0]} x {stored[1]}; pass --image-size {stored[0]} {stored[1]}"
        )
    if channels != config.channels:
        raise ConfigError(f"--data {path}: images have {channels} channel{'s' * (channels != 1)}; "
                          f"pass --channels {channels}")
    return data


def _hdf5_file(config: DataConfig) -> pathlib.Path:
    path = pathlib.Path(config.data)
    if not path.is_file():
        raise ConfigError(f"--data {path}: no such HDF5 file")
    return path


def check_data_source(config: DataConfig) -> None:
    """Check what can be known of the data ``config`` names without decoding an image, in
    about a second and without TensorFlow: a manifest's options (:func:`manifest_options`)
    and its rows (:func:`~disentangle_tf.data.manifest.read_manifest`: columns, splits,
    labels, and that every image file exists and is of a format read here); that an HDF5
    file exists. The images themselves are checked when loaded (:func:`load_dataset`).

    Raises:
        ConfigError: one line naming the file, row or option (a
            :class:`~disentangle_tf.data.manifest_options.ManifestError` for a manifest).
    """
    if config.dataset == "csv":
        from ..data.manifest import read_manifest  # pandas, no TensorFlow

        with warnings.catch_warnings():  # said once, when the data are loaded
            warnings.simplefilter("ignore", DataWarning)
            read_manifest(config.data, manifest_options(config))
    elif config.dataset == "hdf5":
        _hdf5_file(config)


def check_one_channel(config: DataConfig) -> None:
    """Refuse ``--channels`` other than 1 for a generated (greyscale) data set."""
    if config.channels != 1:
        raise ConfigError(f"--channels {config.channels}: the {config.dataset} images have 1 channel; "
                          "leave --channels out")


LOADERS = {"synthetic": load_synthetic, "us-sim": load_us_sim, "digits-shadow": load_digits,
           "digits-texture": load_digits, "csv": load_csv, "hdf5": load_hdf5_file}


def load_dataset(config: DataConfig) -> DatasetSplits:
    """Load the data set ``config.dataset`` names; ConfigError (a ValueError) naming the choices otherwise."""
    try:
        loader = LOADERS[config.dataset]
    except KeyError:
        raise ConfigError(f"unknown dataset {config.dataset!r}; expected one of: {', '.join(LOADERS)}") from None
    return loader(config)
