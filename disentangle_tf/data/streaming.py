"""Images read on demand, for data sets larger than memory, and the memory budget.

A :class:`LazyImages` stands in for the ``(N, H, W, C)`` float32 array of
:attr:`~disentangle_tf.data.labelled_images.LabelledImages.images`: it knows its shape
but decodes images only when asked (:meth:`LazyImages.read`), from one of two sources:

- an HDF5 data set file (:mod:`disentangle_tf.data.hdf5`): rows of
  ``/splits/<name>/images`` read with h5py and cast to float32, exactly what
  :func:`~disentangle_tf.data.hdf5.read_hdf5` loads (the file stores the images
  already resized and z-scored);
- image files: decoded, converted to the channels, resized and z-scored by
  :func:`~disentangle_tf.data.images.read_images`, the reader of the in-memory
  manifest path, so a streamed image equals the loaded one.

Selecting a slice, an index array or a boolean mask returns a new lazy view (nothing
decoded); selecting one integer decodes that image. ``numpy.asarray`` materialises a
view (for small uses: a batch, a few images of a figure).
:func:`~disentangle_tf.data.pipeline.make_training_dataset` and
:func:`~disentangle_tf.data.pipeline.make_evaluation_dataset` read the images of each
batch through :meth:`LazyImages.read`.

:func:`check_memory_budget`, :func:`streamed_splits` and :func:`default_memory_budget`
decide which splits of a data set the loaders keep in memory and which they stream.

This module imports neither TensorFlow nor h5py until a source decodes.
"""

from __future__ import annotations

import math
import numbers
import os
import pathlib
import threading

import numpy as np

from ..errors import ConfigError

__all__ = [
    "FileImageSource",
    "HDF5ImageSource",
    "LazyImages",
    "check_memory_budget",
    "decoded_bytes",
    "default_memory_budget",
    "streamed_splits",
]

_FLOAT32 = np.dtype(np.float32)


class HDF5ImageSource:
    """The ``(N, H, W, C)`` images of one data set of an HDF5 file, read by rows.

    The file is opened on first read, once per process (a copy or an unpickled object
    in another process opens its own handle), and read in increasing row order, one
    slice per run of consecutive rows.

    Args:
        path: the HDF5 file.
        dataset: path of the 4-dimensional images inside the file
            (``"splits/train/images"``).

    Raises:
        ValueError: if the data set is missing or not 4-dimensional (checked when
            the source is made, with the file opened and closed again).
    """

    def __init__(self, path, dataset: str):
        import h5py

        self.path = pathlib.Path(path)
        self.dataset = str(dataset)
        with h5py.File(self.path, "r") as file:
            if self.dataset not in file or not isinstance(file[self.dataset], h5py.Dataset):
                raise ValueError(f"{self.path}: missing data set {self.dataset!r}")
            self.shape = tuple(int(d) for d in file[self.dataset].shape)
        if len(self.shape) != 4:
            raise ValueError(
                f"{self.path}: {self.dataset}: expected images of shape (N, H, W, C), got shape {self.shape}"
            )
        self._handle = None
        self._pid = None
        self._lock = threading.Lock()

    def __getstate__(self):
        return {"path": self.path, "dataset": self.dataset, "shape": self.shape}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._handle, self._pid, self._lock = None, None, threading.Lock()

    def _images(self):
        """The h5py data set, opened in this process on first use."""
        import h5py

        with self._lock:
            if self._handle is None or self._pid != os.getpid():
                self._handle = h5py.File(self.path, "r")
                self._pid = os.getpid()
            return self._handle[self.dataset]

    def read(self, rows: np.ndarray) -> np.ndarray:
        """The images at ``rows``: strictly increasing int64 positions -> float32 ``(n, H, W, C)``."""
        if len(rows) == 0:
            return np.empty((0, *self.shape[1:]), _FLOAT32)
        images = self._images()
        # One slice per run of consecutive rows: h5py's point selections (images[rows])
        # are 15 to 80 times slower than reading the same rows slice by slice.
        starts = np.flatnonzero(np.diff(rows, prepend=rows[0] - 2) != 1)
        stops = np.append(starts[1:], len(rows))
        values = np.empty((len(rows), *self.shape[1:]), _FLOAT32)
        with self._lock:  # one h5py handle, used by the pipeline's threads in turn
            for start, stop in zip(starts, stops):
                values[start:stop] = images[int(rows[start]):int(rows[stop - 1]) + 1]
        return values

    def __repr__(self) -> str:
        return f"HDF5ImageSource({str(self.path)!r}, {self.dataset!r})"


class FileImageSource:
    """Images decoded from files by :func:`~disentangle_tf.data.images.read_images`.

    Each image is decoded, converted to ``channels``, resized bilinearly with
    antialiasing to ``image_size`` and z-scored on its own, as the in-memory
    manifest path loads it.

    Args:
        paths: the image files, one per row.
        image_size: ``(H, W)``.
        channels: 1 (grey) or 3 (RGB).

    Raises:
        ValueError: if ``channels`` is not 1 or 3.
    """

    def __init__(self, paths, image_size, channels: int = 1):
        if channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3; got {channels!r}")
        self.paths = np.asarray([str(path) for path in paths], dtype=object)
        height, width = (int(side) for side in image_size)
        self.shape = (len(self.paths), height, width, int(channels))

    def read(self, rows: np.ndarray) -> np.ndarray:
        """The images at ``rows`` (strictly increasing) -> float32 ``(n, H, W, C)``.

        Raises:
            ImageReadError: naming the first file that cannot be decoded.
        """
        from .images import read_images  # TensorFlow: imported when an image is decoded

        return read_images(self.paths[rows].tolist(), self.shape[1:3], self.shape[3], check=False)

    def __repr__(self) -> str:
        return f"FileImageSource({len(self.paths)} files, {self.shape[1:]})"


class LazyImages:
    """A float32 ``(N, H, W, C)`` array-like whose images are decoded on demand.

    A view of some rows (all, by default) of a source (:class:`HDF5ImageSource`,
    :class:`FileImageSource`, or any object with a ``shape`` of 4 ints and a
    ``read(rows)`` method taking strictly increasing int64 rows).

    Indexing (the first axis only):

    - ``images[i]`` (an integer): the ``(H, W, C)`` float32 image, decoded;
    - ``images[a:b:c]``, ``images[index_array]``, ``images[boolean_mask]``: a new
      :class:`LazyImages` of those rows, in that order, decoding nothing.

    ``numpy.asarray(images)`` decodes every row of the view: use it for small views
    only. Copies and pickles hold the source's description, not its open files.

    Args:
        source: where the images come from.
        rows: positions in the source (int64, any order, repeats allowed); None:
            every row in order.

    Raises:
        ValueError: if a row is outside the source.
    """

    dtype = _FLOAT32
    ndim = 4

    def __init__(self, source, rows=None):
        self.source = source
        count = int(source.shape[0])
        if rows is None:
            rows = np.arange(count, dtype=np.int64)
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        if len(rows) and (rows.min() < 0 or rows.max() >= count):
            raise ValueError(f"rows: expected positions in 0 .. {count - 1}; got {int(rows.min())} .. {int(rows.max())}")
        self.rows = rows

    @property
    def shape(self) -> tuple:
        """``(N, H, W, C)``."""
        return (len(self.rows), *(int(d) for d in self.source.shape[1:]))

    @property
    def nbytes(self) -> int:
        """Bytes the view takes once decoded (``N * H * W * C * 4``)."""
        return int(np.prod(self.shape)) * _FLOAT32.itemsize

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, key):
        if isinstance(key, (numbers.Integral, np.integer)) and not isinstance(key, (bool, np.bool_)):
            index = int(key)
            if not -len(self) <= index < len(self):
                raise IndexError(f"index {index} is out of bounds for {len(self)} images")
            return self.read(np.array([index]))[0]
        if isinstance(key, slice):
            return LazyImages(self.source, self.rows[key])
        if isinstance(key, tuple):
            raise TypeError("LazyImages selects images along the first axis only; "
                            "read them first (numpy.asarray or read) to index pixels")
        key = np.asarray(key)
        if key.dtype == bool:
            if key.shape != (len(self),):
                raise IndexError(f"boolean mask of shape {key.shape} does not match {len(self)} images")
            return LazyImages(self.source, self.rows[key])
        if key.size == 0:
            key = key.astype(np.int64)
        if not np.issubdtype(key.dtype, np.integer) or key.ndim != 1:
            raise IndexError(
                f"LazyImages takes an integer, a slice, a 1-d integer array or a boolean mask; got {key!r}"
            )
        if len(key) and (key.min() < -len(self) or key.max() >= len(self)):
            raise IndexError(f"index out of bounds for {len(self)} images")
        return LazyImages(self.source, self.rows[key])

    def read(self, indices=None) -> np.ndarray:
        """Decode the images at ``indices`` of this view.

        Each distinct image is read once, from the source in increasing order (as
        h5py needs), and put back in the order asked.

        Args:
            indices: integer positions in this view, of any shape, any order,
                repeats allowed; None: every image of the view.

        Returns:
            float32 array of shape ``indices.shape + (H, W, C)``.

        Raises:
            IndexError: if an index is outside the view.
            ImageReadError: (files) naming a file that cannot be decoded.
        """
        if indices is None:
            indices = np.arange(len(self))
        indices = np.asarray(indices)
        if indices.size and (not np.issubdtype(indices.dtype, np.integer)
                             or indices.min() < -len(self) or indices.max() >= len(self)):
            raise IndexError(f"indices: expected integers in 0 .. {len(self) - 1}")
        wanted = self.rows[indices.reshape(-1).astype(np.int64)]
        unique, inverse = np.unique(wanted, return_inverse=True)
        decoded = np.asarray(self.source.read(unique), dtype=_FLOAT32)
        return decoded[inverse.reshape(-1)].reshape(*indices.shape, *self.shape[1:])

    def __array__(self, dtype=None, copy=None):
        images = self.read()
        return images if dtype is None else images.astype(dtype, copy=False)

    def __repr__(self) -> str:
        return f"LazyImages(shape={self.shape}, source={self.source!r})"


def read_rows(images, indices: np.ndarray) -> np.ndarray:
    """``images[indices]`` as float32, for an array or a :class:`LazyImages` (decoding).

    Args:
        images: ``(N, H, W, C)`` float32 numpy array or :class:`LazyImages`.
        indices: integer positions of any shape.

    Returns:
        float32 array of shape ``indices.shape + (H, W, C)``.
    """
    if isinstance(images, LazyImages):
        return images.read(indices)
    return np.take(images, np.asarray(indices, dtype=np.int64), axis=0)


# --------------------------------------------------------------------- memory budget


def check_memory_budget(memory_budget) -> int | None:
    """``memory_budget`` as a number of bytes, or None (no budget: every split in memory).

    Raises:
        ConfigError: (a ``ValueError``) naming ``memory_budget`` unless it is None or
            a finite number >= 0.
    """
    if memory_budget is None:
        return None
    valid = (isinstance(memory_budget, numbers.Real) and not isinstance(memory_budget, (bool, np.bool_))
             and math.isfinite(memory_budget) and memory_budget >= 0)
    if not valid:
        raise ConfigError(f"memory_budget: expected a number of bytes >= 0 or None, got {memory_budget!r}")
    return int(memory_budget)


def decoded_bytes(shape) -> int:
    """Bytes of a float32 array of ``shape`` (``N * H * W * C * 4`` for images)."""
    return int(np.prod([int(d) for d in shape], dtype=np.int64)) * _FLOAT32.itemsize


def streamed_splits(sizes: dict, memory_budget) -> set:
    """The splits to stream so that those kept in memory fit in ``memory_budget``.

    The budget bounds the decoded splits held in memory together: if their sum
    exceeds it, the largest split is streamed, then the next largest, until the rest
    fit (ties: the split named first). Each split is counted once, however many roles
    it has.

    Args:
        sizes: split name -> decoded bytes (:func:`decoded_bytes`).
        memory_budget: bytes, or None (stream nothing).

    Returns:
        The names of the splits to stream.

    Raises:
        ConfigError: as :func:`check_memory_budget`.
    """
    budget = check_memory_budget(memory_budget)
    if budget is None:
        return set()
    streamed, held = set(), sum(sizes.values())
    for name in sorted(sizes, key=lambda n: (-sizes[n], list(sizes).index(n))):
        if held <= budget:
            break
        streamed.add(name)
        held -= sizes[name]
    return streamed


def _cgroup_memory_limit() -> int | None:
    """The memory limit of this process's control group (Linux), if it has one."""
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = pathlib.Path(path).read_text().strip()
        except OSError:
            continue
        if text.isdigit() and int(text) < 2**60:  # "max" or a huge number: no limit
            return int(text)
    return None


def default_memory_budget() -> int | None:
    """Half the memory this process may use: a default for ``memory_budget``.

    The physical memory (``os.sysconf``: page size times physical pages), or the
    control group's limit where it is lower (a container), halved: the other half is
    left to the model, TensorFlow and the copy of the training images the training
    pipeline makes.

    Returns:
        Bytes, or None where the memory size cannot be read (every split is then
        kept in memory).
    """
    try:
        physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        physical = None
    if physical is not None and physical <= 0:
        physical = None
    limits = [value for value in (physical, _cgroup_memory_limit()) if value]
    return min(limits) // 2 if limits else None
