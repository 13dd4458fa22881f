"""The backup of an unfinished training run: written so that a kill never damages it.

A backup directory holds up to two checkpoints, each a weights file (the model's and
both optimizers' variables, Keras ``save_weights`` format) and a JSON metadata file
naming its epoch and the SHA-256 digest of its weights file::

    backup/latest.weights.h5        backup/training_metadata.json     the last epoch
    backup/previous.weights.h5      backup/previous_metadata.json     the one before
    backup/data.json                what the run's data imply (see describe_data)

A checkpoint is written under a temporary name, flushed to disk and only then renamed
into place with ``os.replace`` (atomic on POSIX); the checkpoint it replaces becomes the
previous one. A kill at any moment therefore leaves at least one complete checkpoint,
and a weights file is used only if its digest matches a metadata file, so a file
damaged by other means (a full disk, a copy cut short) is recognised and the other
checkpoint used instead. A write that fails for want of room or permission raises
:class:`~disentangle_tf.errors.WriteError` and leaves the complete checkpoints as they
were (:mod:`~disentangle_tf.run.writes`).

``data.json`` records the tasks, their classes, the image shape and a fingerprint of
the training labels; a run resumed on data that imply another model is refused with
:class:`~disentangle_tf.errors.BackupError` instead of loading weights of another shape.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import pathlib
from typing import Callable

import numpy as np

from ..errors import BackupError
from .writes import RESUMES, STARTS, fsync, write_text_atomically, writing

WEIGHTS = "latest.weights.h5"
METADATA = "training_metadata.json"
PREVIOUS_WEIGHTS = "previous.weights.h5"
PREVIOUS_METADATA = "previous_metadata.json"
PARTIAL_WEIGHTS = "partial.weights.h5"
DATA = "data.json"

__all__ = ["Checkpoint", "check_data_description", "describe_data", "find_checkpoint",
           "write_checkpoint", "write_data_description"]


@dataclasses.dataclass(frozen=True)
class Checkpoint:
    """A complete checkpoint of a backup.

    Attributes:
        epoch: epochs finished when it was written.
        weights: its weights file.
        damaged_epoch: the epoch of a newer checkpoint whose weights were damaged, if
            this checkpoint is the previous one used in its place.
    """

    epoch: int
    weights: pathlib.Path
    damaged_epoch: int | None = None


def _digest(path: pathlib.Path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()


def write_checkpoint(backup_dir, save_weights: Callable[[str], None], epoch: int) -> None:
    """Write a checkpoint of ``epoch`` finished epochs; the latest one becomes the previous.

    Args:
        backup_dir: the backup directory (created if missing).
        save_weights: writes the weights to the path it is given (a name ending in
            ``.weights.h5``), e.g. ``model.save_weights``.
        epoch: the number of epochs finished.

    Raises:
        WriteError: if the disk is full (or the quota reached, the file system read-only,
            the permission denied), naming the file; the partial file is removed and the
            complete checkpoints are kept.
    """
    backup_dir = pathlib.Path(backup_dir)
    partial, partial_metadata = backup_dir / PARTIAL_WEIGHTS, backup_dir / f".{METADATA}.partial"
    # What takes room is written before a complete checkpoint is touched: a full disk
    # stops the write with the checkpoints as they were.
    with writing(partial, RESUMES, discard=(partial, partial_metadata)):
        backup_dir.mkdir(parents=True, exist_ok=True)
        save_weights(str(partial))
        fsync(partial)
        partial_metadata.write_text(json.dumps({"epoch": int(epoch), "batch": 0,
                                                "weights_sha256": _digest(partial)}))
        fsync(partial_metadata)
    with writing(backup_dir, RESUMES):
        for current, previous in ((WEIGHTS, PREVIOUS_WEIGHTS), (METADATA, PREVIOUS_METADATA)):
            if (backup_dir / current).exists():
                os.replace(backup_dir / current, backup_dir / previous)
        os.replace(partial, backup_dir / WEIGHTS)
        os.replace(partial_metadata, backup_dir / METADATA)
        fsync(backup_dir)


def _read_metadata(path: pathlib.Path) -> dict | None:
    try:
        metadata = json.loads(path.read_text())
        int(metadata["epoch"])
    except (OSError, ValueError, TypeError, KeyError):
        return None
    return metadata if isinstance(metadata, dict) else None


def _readable_hdf5(path: pathlib.Path) -> bool:
    import h5py

    try:
        with h5py.File(path, "r"):
            return True
    except OSError:
        return False


def find_checkpoint(backup_dir) -> Checkpoint | None:
    """The newest complete checkpoint in ``backup_dir``.

    A checkpoint is complete when its metadata file parses and names the SHA-256
    digest of one of the two weights files (a metadata file without a digest, as
    ``keras.callbacks.BackupAndRestore`` writes, goes with ``latest.weights.h5`` if
    that opens as HDF5). If the complete checkpoint found is not the latest, it is
    made the latest again (copied under a temporary name, then renamed), so the next
    checkpoint written keeps it as the previous one.

    Returns:
        The checkpoint, or None if the directory holds no checkpoint at all.

    Raises:
        BackupError: if the directory holds weights or metadata but no complete
            checkpoint (one line saying what to do).
        WriteError: if the complete checkpoint cannot be made the latest again (a full
            disk); the backup keeps it.
    """
    backup_dir = pathlib.Path(backup_dir)
    weights = [backup_dir / WEIGHTS, backup_dir / PREVIOUS_WEIGHTS]
    metadata_files = [backup_dir / METADATA, backup_dir / PREVIOUS_METADATA]
    if not any(path.exists() for path in weights + metadata_files):
        return None
    digests: dict[pathlib.Path, str] = {}
    candidates = []
    for path in metadata_files:
        metadata = _read_metadata(path) if path.is_file() else None
        if metadata is not None:
            candidates.append((int(metadata["epoch"]), path, metadata))
    for epoch, source, metadata in sorted(candidates, key=lambda c: -c[0]):
        wanted = metadata.get("weights_sha256")
        for path in weights:
            if not path.is_file():
                continue
            if wanted is None:  # Keras's own layout: trust a latest file that opens
                if path.name == WEIGHTS and source.name == METADATA and _readable_hdf5(path):
                    return Checkpoint(epoch, path)
                continue
            if path not in digests:
                digests[path] = _digest(path)
            if digests[path] != wanted:
                continue
            if path.name == WEIGHTS and source.name == METADATA:
                return Checkpoint(epoch, path)
            _promote(backup_dir, path, metadata)
            newest = max(c[0] for c in candidates)
            return Checkpoint(epoch, backup_dir / WEIGHTS, damaged_epoch=newest if newest > epoch else None)
    raise BackupError(
        f"the backup in {backup_dir} is damaged (no weights file matches its metadata) and holds no "
        "intact earlier copy: pass --overwrite to start the run again, or choose a new --output-dir"
    )


def _promote(backup_dir: pathlib.Path, weights: pathlib.Path, metadata: dict) -> None:
    """Make a complete checkpoint the latest one (copy, then atomic renames)."""
    import shutil

    partial = backup_dir / PARTIAL_WEIGHTS
    with writing(partial, RESUMES, discard=(partial,)):
        shutil.copyfile(weights, partial)
        fsync(partial)
    with writing(backup_dir, RESUMES):
        os.replace(partial, backup_dir / WEIGHTS)
        write_text_atomically(backup_dir / METADATA, json.dumps(metadata), RESUMES)
        fsync(backup_dir)


def describe_data(tasks, train) -> dict:
    """What a data set implies for a model and its training, as plain JSON values.

    Args:
        tasks: the :class:`~disentangle_tf.task_spec.TaskSpec` of every task, in
            model order.
        train: the training :class:`~disentangle_tf.data.LabelledImages`.

    Returns:
        ``{"tasks": [{"name", "num_classes", "class_names"}...], "image_shape":
        [H, W, C], "train_images": N, "train_fingerprint": hex}``; the fingerprint
        is the SHA-256 digest of the image shape, the count and every task's int64
        training labels, in order (the pixels are left out: decoding may differ in
        the last bit between library versions).
    """
    sha = hashlib.sha256()
    sha.update(json.dumps([list(train.image_shape), len(train)]).encode())
    for task in tasks:
        sha.update(task.name.encode() + b"\0")
        sha.update(np.ascontiguousarray(np.asarray(train.labels[task.name], dtype="<i8")).tobytes())
    return {
        "tasks": [{"name": task.name, "num_classes": int(task.num_classes),
                   "class_names": None if task.class_names is None else [str(n) for n in task.class_names]}
                  for task in tasks],
        "image_shape": [int(d) for d in train.image_shape],
        "train_images": int(len(train)),
        "train_fingerprint": sha.hexdigest(),
    }


def write_data_description(backup_dir, description: dict) -> None:
    """Store :func:`describe_data`'s result in ``backup_dir/data.json`` (atomically).

    Raises:
        WriteError: if the disk is full (or the like), naming the file.
    """
    backup_dir = pathlib.Path(backup_dir)
    with writing(backup_dir, STARTS):
        backup_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomically(backup_dir / DATA, json.dumps(description, indent=2) + "\n", STARTS)


def _classes(task: dict) -> str:
    names = task.get("class_names")
    count = task["num_classes"]
    return f"{count} classes" + (f" ({', '.join(names)})" if names else "")


def _difference(stored: dict, now: dict) -> str | None:
    """The first difference between two data descriptions, in words (None if equal)."""
    old_tasks, new_tasks = stored.get("tasks", []), now["tasks"]
    if [t["name"] for t in old_tasks] != [t["name"] for t in new_tasks]:
        return (f"tasks {', '.join(t['name'] for t in old_tasks)}; the data now have tasks "
                f"{', '.join(t['name'] for t in new_tasks)}")
    for old, new in zip(old_tasks, new_tasks):
        if old["num_classes"] != new["num_classes"] or old.get("class_names") != new.get("class_names"):
            return f"task {old['name']!r} with {_classes(old)}; the data now have {_classes(new)}"
    if stored.get("image_shape") != now["image_shape"]:
        return (f"images of shape {'x'.join(map(str, stored.get('image_shape', [])))}; the data now give "
                f"{'x'.join(map(str, now['image_shape']))}")
    if stored.get("train_images") != now["train_images"]:
        return f"{stored.get('train_images')} training images; the data now have {now['train_images']}"
    if stored.get("train_fingerprint") != now["train_fingerprint"]:
        return "other training labels; the data's training labels have changed"
    return None


def check_data_description(backup_dir, description: dict) -> None:
    """Refuse to resume a backup made for other data.

    A backup without ``data.json`` (written by an earlier version) is not checked.

    Raises:
        BackupError: naming the first difference (tasks, classes, image shape, the
            number of training images, or their labels); the backup is left as it is.
    """
    path = pathlib.Path(backup_dir) / DATA
    if not path.is_file():
        return
    try:
        stored = json.loads(path.read_text())
        difference = _difference(stored, description)
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        raise BackupError(f"the backup in {backup_dir} is damaged ({DATA} cannot be read): "
                          "pass --overwrite to start the run again, or choose a new --output-dir") from None
    if difference is not None:
        raise BackupError(f"the backup in {backup_dir} was made for {difference}: start a new "
                          "--output-dir or pass --overwrite")
