"""Decoding the image files of a checked manifest, row by row.

:func:`decode_rows` reads the images of some rows of a manifest (as read by
:func:`~disentangle_tf.data.manifest.read_manifest`), turning a file that cannot be
decoded into a :class:`~disentangle_tf.data.manifest_options.ManifestError` naming its
row; :func:`warn_constant` says, once, which images were constant.
"""

from __future__ import annotations

import pathlib
import warnings

import numpy as np
import pandas as pd

from ..errors import DataWarning
from .images import ImageReadError, iter_image_batches, read_images
from .manifest_cells import _where
from .manifest_options import ManifestError

__all__ = ["decode_rows", "warn_constant"]


def _decode_failure(source, frame: pd.DataFrame, index: int, reason: str) -> ManifestError:
    """The error naming the manifest row at position ``index`` of ``frame``, its file and ``reason``."""
    return ManifestError(
        f"{_where(pathlib.Path(source), int(frame['row'].iloc[index]) - 1)}: cannot decode image "
        f"{frame['path'].iloc[index]}: {reason}"
    )


def decode_rows(frame: pd.DataFrame, rows: np.ndarray, image_size, channels: int, keep: bool = True):
    """The images of the manifest rows selected by the boolean ``rows``, in row order.

    Read by :func:`~disentangle_tf.data.images.read_images` as ``(n, H, W, channels)``
    float32; the files were checked by
    :func:`~disentangle_tf.data.manifest.read_manifest`. With ``keep=False`` each image
    is decoded to check it and dropped (memory stays bounded), and the images returned
    are None.

    Returns:
        ``(images, constant)``: the images, and the positions in ``frame`` (int64,
        ascending) of the constant images among them (every pixel the same), which
        the reader sets to zeros.

    Raises:
        ManifestError: naming the row and file of the first image, in row order, that
            cannot be decoded.
    """
    source = frame.attrs.get("source", "manifest")
    positions = np.flatnonzero(rows)
    paths = frame["path"].to_numpy()[positions].tolist()
    constant = []
    try:
        if keep:
            images = read_images(paths, image_size, channels, check=False, constant=constant)
        else:
            images = None
            for _ in iter_image_batches(paths, image_size, channels, constant=constant):
                pass
    except ImageReadError as error:
        raise _decode_failure(source, frame, int(positions[error.index]), error.reason) from None
    return images, positions[sorted(constant)]


def warn_constant(frame: pd.DataFrame, constant: np.ndarray) -> None:
    """One DataWarning naming the first constant image's row and file and the count.

    ``constant``: positions in ``frame`` of the images read as zeros because every
    pixel was the same (:func:`decode_rows`); nothing is said when it is empty.
    """
    if not len(constant):
        return
    source = frame.attrs.get("source", "manifest")
    first = int(np.min(constant))
    others = len(constant) - 1
    more = f", as are the images of {others} other row{'s' if others > 1 else ''}" if others else ""
    warnings.warn(
        f"{_where(pathlib.Path(source), int(frame['row'].iloc[first]) - 1)}: image {frame['path'].iloc[first]} "
        f"is constant (every pixel the same){more}: such an image is read as zeros and tells the model "
        "nothing; check the files", DataWarning, stacklevel=3)
