"""A whole data set (tasks and splits) in one HDF5 file, for fast repeated loading.

Layout (format ``"disentangle_tf.dataset"``, version 1)::

    /                       attributes: format, format_version,
                            tasks (JSON list of TaskSpec configs),
                            train, validation (split names),
                            evaluation (JSON list of split names)
    /splits/<name>/images   float32 (N, H, W, C), one chunk per image
    /splits/<name>/labels/<task>    int64 (N,), for the tasks the split is labelled with;
                            -1 where an image has no label for the task
    /splits/<name>/groups   UTF-8 strings (N,), optional
    /splits/<name>          attribute class_names (JSON mapping task -> names), optional

A split used in several roles (the validation split is usually also evaluated) is
stored once. Images are stored uncompressed by default: reading is then as fast as
the disk, and z-scored float images compress poorly anyway.

:func:`read_hdf5` with a ``memory_budget`` keeps in memory only the splits that fit in
it and reads the others' images on demand
(:class:`~disentangle_tf.data.streaming.LazyImages`), one chunk (image) at a time.
"""

from __future__ import annotations

import json
import os
import pathlib

import h5py
import numpy as np

from ..errors import ConfigError
from ..task_spec import TaskSpec
from .dataset_splits import DatasetSplits
from .labelled_images import LabelledImages
from .streaming import HDF5ImageSource, LazyImages, check_memory_budget, decoded_bytes, streamed_splits

__all__ = ["FORMAT", "FORMAT_VERSION", "HDF5FormatError", "read_hdf5", "write_hdf5"]

FORMAT = "disentangle_tf.dataset"
"""Value of the root attribute ``format`` of a data set file."""

FORMAT_VERSION = 1
"""Version of the layout written by :func:`write_hdf5`."""


class HDF5FormatError(ConfigError):
    """A file is not a data set file, or lacks part of one (one-line message)."""


def _split_names(splits) -> tuple[str, str, dict[str, LabelledImages]]:
    """Names of the training and validation splits and every split to store, by name."""
    stored: dict[str, LabelledImages] = {}
    for name, data in splits.evaluation.items():
        stored[str(name)] = data

    def name_of(data: LabelledImages, default: str) -> str:
        for name, candidate in stored.items():
            if candidate is data:
                return name
        name = default
        while name in stored:
            name = "_" + name
        stored[name] = data
        return name

    train = name_of(splits.train, "train")
    validation = name_of(splits.validation, "val")
    for name in stored:
        if not name or "/" in name or name in (".", ".."):
            raise ValueError(f"split name {name!r} cannot name an HDF5 group")
    return train, validation, stored


_WRITE_BLOCK = 256
"""Images of a :class:`~disentangle_tf.data.streaming.LazyImages` decoded and written at once."""


def _write_images(group: h5py.Group, images, compression: str | None) -> None:
    """``group/images``: float32, one chunk per image; lazy images block by block."""
    if not isinstance(images, LazyImages):
        images = np.asarray(images, dtype=np.float32)
        chunks = (1, *images.shape[1:]) if len(images) else None
        group.create_dataset("images", data=images, chunks=chunks, compression=compression)
        return
    chunks = (1, *images.shape[1:]) if len(images) else None
    stored = group.create_dataset("images", shape=images.shape, dtype=np.float32, chunks=chunks,
                                  compression=compression)
    for start in range(0, len(images), _WRITE_BLOCK):
        stop = min(start + _WRITE_BLOCK, len(images))
        stored[start:stop] = images.read(np.arange(start, stop))


def write_hdf5(path, splits, compression: str | None = None) -> pathlib.Path:
    """Write a data set to a new HDF5 file.

    Args:
        path: the file to create; an existing file is never overwritten.
        splits: the :class:`~disentangle_tf.data.dataset_splits.DatasetSplits` to store.
            Lazy images (:class:`~disentangle_tf.data.streaming.LazyImages`) are
            decoded and written a block of images at a time, never whole.
        compression: ``None`` (default, fastest) or an h5py filter such as
            ``"gzip"`` for the images.

    Returns:
        The path written.

    Raises:
        FileExistsError: if ``path`` exists.
        ValueError: if a split name cannot name an HDF5 group (it contains ``"/"``).

    Example:
        >>> write_hdf5("us_sim.h5", load_us_sim((48, 60), seed=0))  # doctest: +SKIP
    """
    path = pathlib.Path(path)
    if path.exists():
        raise FileExistsError(f"{path}: file exists; refusing to overwrite it")
    train, validation, stored = _split_names(splits)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        with h5py.File(partial, "w") as file:
            file.attrs["format"] = FORMAT
            file.attrs["format_version"] = FORMAT_VERSION
            file.attrs["tasks"] = json.dumps([task.get_config() for task in splits.tasks])
            file.attrs["train"] = train
            file.attrs["validation"] = validation
            file.attrs["evaluation"] = json.dumps([str(name) for name in splits.evaluation])
            root = file.create_group("splits")
            for name, data in stored.items():
                group = root.create_group(name)
                _write_images(group, data.images, compression)
                labels = group.create_group("labels")
                for task, values in data.labels.items():
                    labels.create_dataset(task, data=np.asarray(values, dtype=np.int64))
                if data.groups is not None:
                    group.create_dataset(
                        "groups",
                        data=np.asarray([str(g) for g in data.groups], dtype=object),
                        dtype=h5py.string_dtype("utf-8"),
                    )
                if data.class_names is not None:
                    group.attrs["class_names"] = json.dumps(
                        {task: list(names) for task, names in data.class_names.items()}
                    )
        # Publish the complete file under its name without replacing an existing one.
        try:
            os.link(partial, path)
        except FileExistsError:
            raise FileExistsError(f"{path}: file exists; refusing to overwrite it") from None
        except OSError:  # no hard links on this file system
            if path.exists():
                raise FileExistsError(f"{path}: file exists; refusing to overwrite it") from None
            os.replace(partial, path)
    finally:
        if partial.exists():
            partial.unlink()
    return path


def _attribute(file: h5py.File, path: pathlib.Path, key: str, as_json: bool = False):
    if key not in file.attrs:
        raise HDF5FormatError(f"{path}: missing root attribute {key!r}")
    value = file.attrs[key]
    value = value.decode() if isinstance(value, bytes) else value
    if not as_json:
        return value
    try:
        return json.loads(value)
    except (TypeError, ValueError):
        raise HDF5FormatError(f"{path}: root attribute {key!r} is not valid JSON") from None


def _split_group(file: h5py.File, path: pathlib.Path, name: str) -> h5py.Group:
    """The group of split ``name``, checked to hold images and labels."""
    where = f"splits/{name}"
    if where not in file:
        raise HDF5FormatError(f"{path}: missing group {where!r} (split {name!r})")
    group = file[where]
    for item in ("images", "labels"):
        if item not in group:
            raise HDF5FormatError(f"{path}: missing {where}/{item} (split {name!r})")
    if not isinstance(group["images"], h5py.Dataset):
        raise HDF5FormatError(f"{path}: {where}/images is not an array (split {name!r})")
    return group


def _read_split(file: h5py.File, path: pathlib.Path, name: str, stream: bool = False) -> LabelledImages:
    """Split ``name``: its images read into memory, or, with ``stream``, read on demand."""
    where = f"splits/{name}"
    group = _split_group(file, path, name)
    labels = {task: np.asarray(values[()], dtype=np.int64) for task, values in group["labels"].items()}
    groups = None
    if "groups" in group:
        groups = np.array([str(g) for g in group["groups"].asstr()[()]])
    class_names = None
    if "class_names" in group.attrs:
        try:
            class_names = {t: tuple(n) for t, n in json.loads(group.attrs["class_names"]).items()}
        except (TypeError, ValueError, AttributeError):
            raise HDF5FormatError(
                f"{path}: attribute class_names of {where} is not valid JSON"
            ) from None
    try:
        if stream:
            images = LazyImages(HDF5ImageSource(path, f"{where}/images"))
        else:
            images = np.asarray(group["images"][()], dtype=np.float32)
        return LabelledImages(
            images=images,
            labels=labels,
            class_names=class_names,
            groups=groups,
        )
    except ValueError as error:
        raise HDF5FormatError(f"{path}: split {name!r}: {error}") from None


def read_hdf5(path, memory_budget: int | None = None):
    """Read a data set written by :func:`write_hdf5`, into memory or on demand.

    Args:
        path: the HDF5 file.
        memory_budget: None (default): every split is read into memory. A number of
            bytes: the splits kept in memory, counted decoded (``N * H * W * C * 4``
            bytes each, a split used in several roles once) fit in it together; the
            largest splits are streamed until they do
            (:func:`~disentangle_tf.data.streaming.streamed_splits`). A streamed
            split's images are a :class:`~disentangle_tf.data.streaming.LazyImages`
            reading this file on demand (it must stay in place while they are used).
            :func:`~disentangle_tf.data.streaming.default_memory_budget` gives half
            the memory of the machine.

    Returns:
        A :class:`~disentangle_tf.data.dataset_splits.DatasetSplits`; a split stored once
        but used in several roles is one object (``validation is evaluation["val"]``).
        Images are float32 ``(N, H, W, C)``, as stored.

    Raises:
        FileNotFoundError: if ``path`` does not exist.
        HDF5FormatError: (a ``ValueError``) naming the file and what is missing or
            malformed: not HDF5, not a data set file, a newer format version, a
            missing attribute, split group, images or labels.
        ConfigError: (a ``ValueError``) naming ``memory_budget`` if it is not None or
            a number >= 0.
    """
    check_memory_budget(memory_budget)
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such data set file")
    try:
        file = h5py.File(path, "r")
    except OSError:
        raise HDF5FormatError(f"{path}: not an HDF5 file") from None
    with file:
        found = file.attrs.get("format")
        if (found.decode() if isinstance(found, bytes) else found) != FORMAT:
            raise HDF5FormatError(
                f"{path}: not a disentangle_tf data set file (root attribute 'format' is not {FORMAT!r})"
            )
        version = int(_attribute(file, path, "format_version"))
        if version > FORMAT_VERSION:
            raise HDF5FormatError(
                f"{path}: format version {version} is newer than this package reads ({FORMAT_VERSION})"
            )
        try:
            tasks = [TaskSpec.from_config(config) for config in _attribute(file, path, "tasks", True)]
        except (TypeError, ValueError) as error:
            raise HDF5FormatError(f"{path}: root attribute 'tasks': {error}") from None
        train = str(_attribute(file, path, "train"))
        validation = str(_attribute(file, path, "validation"))
        evaluation = [str(name) for name in _attribute(file, path, "evaluation", True)]
        names = list(dict.fromkeys([train, validation, *evaluation]))
        sizes = {name: decoded_bytes(_split_group(file, path, name)["images"].shape) for name in names}
        streamed = streamed_splits(sizes, memory_budget)
        cache = {name: _read_split(file, path, name, stream=name in streamed) for name in names}
    return DatasetSplits(
        tasks=tasks,
        train=cache[train],
        validation=cache[validation],
        evaluation={name: cache[name] for name in evaluation},
    )
