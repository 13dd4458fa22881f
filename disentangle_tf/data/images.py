"""Reading image files into model-ready arrays (greyscale, resized, z-scored)."""

from __future__ import annotations

import pathlib

import tensorflow as tf

SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")


def decode_image(contents: tf.Tensor, image_size, channels: int = 1) -> tf.Tensor:
    """Decode PNG / JPEG / BMP bytes to a float32 ``(H, W, channels)`` model input.

    The image is converted to ``channels`` (1: greyscale), resized bilinearly to
    ``image_size`` and z-score normalised on its own
    (``tf.image.per_image_standardization``), as the training images are.
    Runs inside tf.data pipelines.
    """
    image = tf.io.decode_image(contents, channels=channels, expand_animations=False)
    image = tf.image.resize(tf.cast(image, tf.float32), tuple(image_size), antialias=True)
    return tf.image.per_image_standardization(image)


def load_images(paths, image_size, channels: int = 1) -> tf.Tensor:
    """Load image files as one ``(N, H, W, channels)`` float32 batch.

    Raises:
        ValueError: naming the first file that is missing or cannot be decoded.
    """
    images = []
    for path in paths:
        path = pathlib.Path(path)
        if not path.is_file():
            raise ValueError(f"{path}: no such image file")
        try:
            images.append(decode_image(tf.io.read_file(str(path)), image_size, channels))
        except (tf.errors.InvalidArgumentError, tf.errors.UnimplementedError):
            raise ValueError(f"{path}: cannot decode as PNG, JPEG, BMP or GIF") from None
    return tf.stack(images)
