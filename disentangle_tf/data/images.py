"""Reading image files into model-ready arrays (greyscale, resized, z-scored).

An image file becomes a model input in two steps: it is decoded to its own pixels
(:func:`decode_pixels`), then resized and z-scored (:func:`standardize_images`). The
second step runs on batches, which costs less per image than single-image calls
(reading PNG files ran 1.2x faster, ``docs/performance.rst``).
:func:`image_file_dataset` therefore decodes files in parallel, groups images of the
same decoded size into batches, and resizes each batch at once.
"""

from __future__ import annotations

import pathlib

import numpy as np
import tensorflow as tf

SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
DECODE_BATCH_SIZE = 50


def decode_pixels(contents: tf.Tensor, channels: int = 1) -> tf.Tensor:
    """Decode PNG / JPEG / BMP / GIF bytes to ``(h, w, channels)`` pixels (uint8 or uint16).

    ``channels`` 1 converts colour images to greyscale; 3 converts greyscale to RGB.
    """
    return tf.io.decode_image(contents, channels=channels, expand_animations=False)


def standardize_images(pixels: tf.Tensor, image_size) -> tf.Tensor:
    """Resize a ``(N, h, w, C)`` batch to ``image_size`` and z-score each image on its own.

    The resize is bilinear with antialiasing; the z-score is
    ``tf.image.per_image_standardization``, as for the training images. Every image of
    the batch is computed as if it were alone.
    """
    images = tf.image.resize(pixels, tuple(image_size), antialias=True)
    return tf.image.per_image_standardization(images)


def decode_image(contents: tf.Tensor, image_size, channels: int = 1) -> tf.Tensor:
    """Decode PNG / JPEG / BMP bytes to a float32 ``(H, W, channels)`` model input.

    The image is converted to ``channels`` (1: greyscale), resized bilinearly to
    ``image_size`` and z-score normalised on its own
    (``tf.image.per_image_standardization``), as the training images are.
    Runs inside tf.data pipelines. To read many files, :func:`image_file_dataset` is
    faster: it resizes batches.
    """
    return standardize_images(decode_pixels(contents, channels)[tf.newaxis], image_size)[0]


def _shape_key(index, pixels):
    """An int64 key that two images share exactly when their decoded sizes are equal."""
    shape = tf.cast(tf.shape(pixels), tf.int64)
    return shape[0] * (2 ** 32) + shape[1]


def image_file_dataset(paths, image_size, channels: int = 1,
                       batch_size: int = DECODE_BATCH_SIZE) -> tf.data.Dataset:
    """Batches of ``(indices, images)`` read from image files, in no particular order.

    Files are read and decoded in parallel. Images of the same decoded size are grouped
    into batches of up to ``batch_size`` (a last, smaller batch per size), and each batch
    is resized and z-scored at once (:func:`standardize_images`). ``indices`` are the
    positions in ``paths`` of the batch's images.

    While decoding, the dataset holds up to ``batch_size`` decoded images of every
    distinct size it has seen and not yet emitted: a lower ``batch_size`` bounds that
    memory for files of many different sizes.

    Args:
        paths: image file names.
        image_size: ``(height, width)`` of the outputs.
        channels: 1 (greyscale) or 3 (RGB).
        batch_size: the most images resized at once.

    Returns:
        A ``tf.data.Dataset`` of ``(int64 (n,), float32 (n, height, width, channels))``.
        Iterating it raises ``tf.errors.InvalidArgumentError`` (or another
        ``tf.errors.OpError``) at a file that cannot be read or decoded.
    """
    paths = [str(path) for path in paths]
    autotune = tf.data.AUTOTUNE
    return (
        tf.data.Dataset.from_tensor_slices((np.arange(len(paths), dtype=np.int64), paths))
        .map(lambda index, path: (index, decode_pixels(tf.io.read_file(path), channels)),
             num_parallel_calls=autotune)
        .group_by_window(
            key_func=_shape_key,
            reduce_func=lambda key, window: window.batch(batch_size),
            window_size=batch_size,
        )
        .map(lambda indices, pixels: (indices, standardize_images(pixels, image_size)),
             num_parallel_calls=autotune)
        .prefetch(autotune)
    )


def load_images(paths, image_size, channels: int = 1) -> tf.Tensor:
    """Load image files as one ``(N, H, W, channels)`` float32 batch, in the order given.

    Raises:
        ValueError: naming the first file that is missing or cannot be decoded.
    """
    paths = [pathlib.Path(path) for path in paths]
    for path in paths:
        if not path.is_file():
            raise ValueError(f"{path}: no such image file")
    height, width = (int(side) for side in image_size)
    images = np.empty((len(paths), height, width, channels), np.float32)
    try:
        for indices, batch in image_file_dataset(paths, (height, width), channels):
            images[indices.numpy()] = batch.numpy()
    except tf.errors.OpError as error:
        found = first_undecodable(paths, channels)
        culprit = paths[found[0]] if found else f"image files ({error.message})"
        raise ValueError(f"{culprit}: cannot decode as PNG, JPEG, BMP or GIF") from None
    return tf.constant(images)


def first_undecodable(paths, channels: int = 1):
    """``(position, error)`` of the first of ``paths`` that cannot be read and decoded.

    Decodes the files one at a time: for naming the culprit after
    :func:`image_file_dataset` failed. Returns None if every file decodes.
    """
    for position, path in enumerate(paths):
        try:
            decode_pixels(tf.io.read_file(str(path)), channels)
        except tf.errors.OpError as error:
            return position, error
    return None
