"""Decoding PNG, JPEG, BMP, GIF and TIFF files with Pillow, as :mod:`~disentangle_tf.data.dicom`
decodes DICOM files; :func:`disentangle_tf.data.images.read_pixels` chooses between them.

Pixels keep their full precision (16-bit grey stays 16-bit; 16-bit colour PNGs, which
Pillow would cut to 8 bits, are decoded by TensorFlow) and their colour model is applied:
palettes are looked up, CMYK and YCbCr become RGB, an alpha channel is dropped, and the
EXIF orientation tag is applied.
"""

from __future__ import annotations

import numpy as np

from .dicom import first_line

__all__ = ["PillowError", "read_with_pillow"]


class PillowError(ValueError):
    """A file Pillow cannot decode, or whose colour model is not read (one-line reason)."""


# Pillow modes and what they become.
_GREY_MODES = ("1", "L", "I", "I;16", "I;16L", "I;16B", "I;16N", "F")
_RGB_MODES = ("RGB", "RGBA", "RGBX")
_CONVERTED_TO_RGB = ("P", "PA", "CMYK", "YCbCr")
_ORIENTATION_TAG = 0x0112  # EXIF / TIFF 6.0 Orientation

# EXIF Orientation value -> the transposition that shows the image upright, the
# same as PIL.ImageOps.exif_transpose (rows first axis, columns second).
_ORIENT = {
    2: lambda a: a[:, ::-1],  # mirrored left-right
    3: lambda a: a[::-1, ::-1],  # rotated 180 degrees
    4: lambda a: a[::-1],  # mirrored top-bottom
    5: lambda a: a.swapaxes(0, 1),  # transposed
    6: lambda a: np.rot90(a, -1),  # rotated 90 degrees clockwise to show
    7: lambda a: a[::-1, ::-1].swapaxes(0, 1),  # transversed
    8: lambda a: np.rot90(a, 1),  # rotated 90 degrees counterclockwise to show
}



def _png_colour_16_bit(path) -> bool:
    """True for a 16-bit PNG with colour or alpha, which Pillow would cut to 8 bits.

    Reads the IHDR chunk, always first (PNG specification 11.2.2): bit depth at byte 24,
    colour type (2 RGB, 4 grey + alpha, 6 RGBA) at byte 25.
    """
    with open(path, "rb") as stream:
        head = stream.read(26)
    return len(head) > 25 and head[24] == 16 and head[25] in (2, 4, 6)


def _pillow_pixels(image) -> np.ndarray | None:
    """A decoded Pillow image as grey ``(h, w)`` or RGB ``(h, w, 3)`` float32 pixels.

    None for a mode whose colour model is not read (LAB, HSV, ...).
    """
    mode = image.mode
    if mode in _GREY_MODES:
        pixels = np.asarray(image)
    elif mode == "LA":
        pixels = np.asarray(image)[..., 0]
    elif mode in _RGB_MODES:
        pixels = np.asarray(image)[..., :3]
    elif mode in _CONVERTED_TO_RGB:
        pixels = np.asarray(image.convert("RGB"))
    else:
        return None
    return pixels.astype(np.float32)


def read_with_pillow(path, kind: str) -> np.ndarray:
    """Grey ``(h, w)`` or RGB ``(h, w, 3)`` float32 pixels of a PNG / JPEG / BMP / GIF / TIFF
    file (``kind``, as :func:`~disentangle_tf.data.images.sniff_format` names it), upright.

    Raises:
        PillowError: the file cannot be decoded as ``kind``, or its colour model is not read.
    """
    import tensorflow as tf  # its PNG decoder reads 16-bit colour, which Pillow does not
    from PIL import Image

    try:
        with Image.open(path, formats=(kind,)) as image:
            orientation = image.getexif().get(_ORIENTATION_TAG, 1)
            if kind == "PNG" and _png_colour_16_bit(path):
                pixels = tf.io.decode_png(tf.io.read_file(str(path)), dtype=tf.uint16).numpy()
                pixels = pixels[..., 0] if pixels.shape[-1] == 2 else pixels[..., :3]
                pixels = pixels.astype(np.float32)
            else:
                image.load()
                pixels = _pillow_pixels(image)
                if pixels is None:
                    raise PillowError(f"{kind} with Pillow image mode {image.mode!r}, a colour model not supported")
    except PillowError:
        raise
    except tf.errors.OpError as error:
        raise PillowError(f"cannot decode as {kind}: {first_line(error.message)}") from None
    except Exception as error:  # Pillow raises many kinds of errors on broken files
        raise PillowError(f"cannot decode as {kind}: {first_line(error)}") from None
    try:
        transpose = _ORIENT.get(int(orientation))
    except (TypeError, ValueError):
        transpose = None
    return transpose(pixels) if transpose else pixels
