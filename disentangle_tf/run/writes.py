"""Writing a run's files: a write that fails for want of room or permission stops the run
with one :class:`~disentangle_tf.errors.WriteError` naming the file, and loses nothing
written before.

A full disk reaches Python in several forms: an ``OSError`` with errno ``ENOSPC``
(Python's own files, Keras's ``.keras`` archive), a ``RuntimeError`` or ``OSError`` of
h5py whose message names errno 28, a TensorFlow ``ResourceExhaustedError`` or
``UnknownError`` whose message says ``No space left on device`` (a summary writer, a
SavedModel). :func:`writing` turns each of them, at the site that writes, into a
``WriteError`` that says what running the same command again does (:data:`RESUMES`,
:data:`FINISHES`, :data:`STARTS`); a quota (``EDQUOT``), a read-only file system
(``EROFS``) and a denied permission (``EACCES``) likewise.

Two writers need more than that. HDF5 can crash the process (a segmentation fault) when
the disk fills while it writes a file: a backup's weights are made in memory and written
by Python (:func:`save_weights_file`). TensorFlow's summary writers drop a failed write
without a word: a file system that had free blocks before they wrote and has none after
counts as full (:func:`free_blocks`).
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import pathlib
import shutil
from typing import Iterable

from ..errors import WriteError

#: What running the same command again does, after a failed write during training...
RESUMES = "it resumes after the last finished epoch"
#: ... after the last epoch, while the model, metrics, figures and logs are written ...
FINISHES = "it finishes the export"
#: ... and before the first epoch (what the run had written is removed).
STARTS = "it starts the run"

#: ``EDQUOT``, where the system has it.
EDQUOT = getattr(errno, "EDQUOT", -1)

#: The errors of a write that cannot be done: their words and what to do.
REASONS = {
    errno.ENOSPC: ("no space left on device", "free some space"),
    EDQUOT: ("disk quota exceeded", "free some space or raise the quota"),
    errno.EROFS: ("read-only file system", "make it writable"),
    errno.EACCES: ("permission denied", "make it writable"),
}

#: How the C libraries' messages (TensorFlow's, HDF5's) name those errors.
_PHRASES = {
    "No space left on device": errno.ENOSPC,
    "errno = 28,": errno.ENOSPC,
    "Disk quota exceeded": EDQUOT,
    "Read-only file system": errno.EROFS,
    "Permission denied": errno.EACCES,
}


def failed_write_errno(error: BaseException) -> int | None:
    """The errno of :data:`REASONS` that ``error`` (or an error it was raised from)
    reports, by its ``errno`` or in its message; None if it reports none of them."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, OSError) and error.errno in REASONS:
            return error.errno
        text = str(getattr(error, "message", None) or error)
        for phrase, code in _PHRASES.items():
            if phrase in text:
                return code
        error = error.__cause__ or error.__context__
    return None


def write_error(error: BaseException, path, outcome: str = "") -> WriteError | None:
    """The :class:`~disentangle_tf.errors.WriteError` of ``error`` raised while writing
    ``path``, or None if ``error`` is not one of a write that cannot be done.

    Its message: ``cannot write PATH: no space left on device; free some space, then run
    the same command again: OUTCOME``.
    """
    if isinstance(error, WriteError):
        return error
    code = failed_write_errno(error)
    if code is None:
        return None
    reason, remedy = REASONS[code]
    message = f"cannot write {path}: {reason}; {remedy}, then run the same command again"
    return WriteError(message + (f": {outcome}" if outcome else ""), code, path)


def remove(path) -> None:
    """Remove a file or a directory (with what it holds) if it exists; errors are ignored."""
    path = pathlib.Path(path)
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            path.unlink()


@contextlib.contextmanager
def writing(path, outcome: str = "", discard: Iterable = (), room: bool = False, closing: Iterable = ()):
    """Within the block, which writes ``path``, a write that cannot be done raises
    :class:`~disentangle_tf.errors.WriteError` naming ``path``; other errors pass.

    Args:
        path: what the block writes (a file or a directory), as the message names it.
        outcome: what running the same command again does (:data:`RESUMES`...).
        discard: files or directories the block was making, removed if it fails
            (whatever the error).
        room: the block used a writer that drops its failed writes: if the file system
            had free blocks before the block and has none after it (:func:`free_blocks`),
            a write was cut short: the disk is full.
        closing: writers closed (:func:`close_quietly`) if the block fails, so that
            none is flushed later, at exit.

    Raises:
        WriteError: from the block's error, which it names as its cause.
    """
    before = free_blocks(path) if room else None
    try:
        yield
        if before and free_blocks(path) == 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
    except Exception as error:
        close_quietly(closing)
        for partial in discard:
            remove(partial)
        failure = write_error(error, path, outcome)
        if failure is None:
            raise
        if failure is error:
            raise
        raise failure from error


def free_blocks(path) -> int | None:
    """The blocks this process may still fill on the file system that holds ``path`` (the
    nearest existing directory above it); None where the system does not say.

    TensorFlow's summary writers drop a write that failed and report nothing: a file
    system that had free blocks before they wrote and has none after is how such a write
    is noticed (one that reports no free block all along tells nothing).
    """
    path = pathlib.Path(path).absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    try:
        stats = os.statvfs(path)
    except (AttributeError, OSError):  # no statvfs here
        return None
    if not stats.f_blocks:  # a file system without blocks to count
        return None
    return stats.f_bfree if getattr(os, "geteuid", lambda: -1)() == 0 else stats.f_bavail


def fsync(path) -> None:
    """Flush ``path`` (a file or a directory) to the disk."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def write_text_atomically(path, text: str, outcome: str = "") -> None:
    """Write ``path`` whole or not at all: under a temporary name, flushed to the disk,
    then renamed into place (a file there before is kept if the write fails).

    Raises:
        WriteError: as :func:`writing`; the temporary file is removed.
    """
    path = pathlib.Path(path)
    partial = path.with_name(f".{path.name}.partial")
    with writing(path, outcome, discard=(partial,)):
        partial.write_text(text)
        fsync(partial)
        os.replace(partial, path)


@contextlib.contextmanager
def undone_on_failure(*paths):
    """If the block raises, remove ``paths`` (files or directories that the block made);
    the error passes on."""
    try:
        yield
    except BaseException:
        for path in paths:
            remove(path)
        raise


@contextlib.contextmanager
def closed_after(writers: Iterable):
    """Close ``writers`` (:func:`close_quietly`) when the block ends, however it ends."""
    try:
        yield
    finally:
        close_quietly(writers)


def close_quietly(writers: Iterable) -> None:
    """Call ``close()`` on each of ``writers``, ignoring the errors of what a failed write
    left unwritten: no writer is left open to be flushed later, at exit."""
    for writer in writers:
        with contextlib.suppress(Exception):
            writer.close()


class _MemoryFile(io.BytesIO):
    """An in-memory file that Keras's ``save_weights`` takes for a ``.weights.h5`` path."""

    def __str__(self) -> str:
        return "memory.weights.h5"


def save_weights_file(model, path) -> None:
    """Write ``model.save_weights``'s file (HDF5) at ``path``, made in memory first.

    HDF5 writing straight to a disk that fills can crash the process; here the file is
    made in memory and written by Python, whose failed write raises ``OSError``. A Keras
    that refuses an in-memory file writes ``path`` itself.

    Raises:
        OSError: as writing a file raises (``ENOSPC`` when the disk is full).
    """
    memory = _MemoryFile()
    try:
        model.save_weights(memory)
    except (TypeError, ValueError):
        model.save_weights(str(path))
        return
    with open(path, "wb") as file:
        file.write(memory.getbuffer())
