"""Reading image files into model-ready arrays (resized, z-scored), for every reader.

Training (manifests), conversion and prediction all read files here, in two steps.

1. Decode (:func:`read_pixels`): the decoder is chosen from the file's first bytes,
   not its name (:func:`sniff_format`): PNG, JPEG, BMP, GIF and TIFF are decoded with
   Pillow (:mod:`~disentangle_tf.data.pillow_images`), DICOM with pydicom
   (:mod:`~disentangle_tf.data.dicom`). Pixels keep their full precision (16-bit grey
   stays 16-bit) and their colour model is applied: palettes are looked up, CMYK and
   YCbCr become RGB, an alpha channel is dropped, and the EXIF orientation tag is
   applied. The result is converted to the model's channels:
   1 = grey (ITU-R BT.601 luma, ``0.2989 R + 0.5870 G + 0.1140 B``, as
   ``tf.image.rgb_to_grayscale``), 3 = RGB (grey repeated). A file whose pixels cannot
   be interpreted is refused with :class:`ImageReadError`, never read as something
   else.
2. Resize and z-score (:func:`standardize_images`) in batches of images of equal
   decoded size, which costs less per image than single-image calls (reading PNG files
   ran 1.2x faster, ``docs/performance.rst``).

:func:`read_images` does both for a list of files, decoding in a thread pool (Pillow's
and pydicom's decoders release the GIL) after checking every file up front
(:func:`check_image_files`: the format of each, and for DICOM files their headers and
the decoders their transfer syntaxes need).
"""

from __future__ import annotations

import collections
import pathlib
from concurrent.futures import ThreadPoolExecutor

from typing import TYPE_CHECKING

import numpy as np

from ..cpus import available_cpus
from . import dicom, pillow_images
from .dicom import first_line

if TYPE_CHECKING:  # TensorFlow is imported where images are resized: reading a manifest's rows needs none
    import tensorflow as tf

__all__ = [
    "FORMATS",
    "ImageReadError",
    "check_image_files",
    "iter_image_batches",
    "load_images",
    "read_images",
    "read_pixels",
    "sniff_format",
    "standardize_images",
]

FORMATS = ("PNG", "JPEG", "BMP", "GIF", "TIFF", "DICOM")
"""File formats read, by the names :func:`sniff_format` returns."""

DECODE_BATCH_SIZE = 50

_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"II+\x00", "TIFF"),  # BigTIFF
    (b"MM\x00+", "TIFF"),
    (b"BM", "BMP"),
)
_DICOM_MAGIC_OFFSET = 128  # DICOM PS3.10 7.1: a 128-byte preamble, then "DICM"

_GREY_TO_RGB = np.array([0.2989, 0.5870, 0.1140], np.float32)  # tf.image.rgb_to_grayscale

class ImageReadError(ValueError):
    """An image file that cannot be read: ``"<path>: <reason>"`` on one line.

    Attributes:
        path: the file.
        reason: what is wrong with it.
        index: its position in the list of files being read (None for a single file).
    """

    def __init__(self, path, reason: str, index: int | None = None):
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason
        self.index = index


def _head(path) -> bytes:
    with open(path, "rb") as stream:
        return stream.read(_DICOM_MAGIC_OFFSET + 4)


def sniff_format(head: bytes) -> str | None:
    """The format of a file from its first 132 bytes (one of :data:`FORMATS`), or None.

    Signatures: PNG ``89 50 4E 47 0D 0A 1A 0A``, JPEG ``FF D8 FF``, GIF ``GIF87a`` /
    ``GIF89a``, TIFF ``II*\\0`` / ``MM\\0*`` (and BigTIFF), BMP ``BM``, DICOM ``DICM``
    after the 128-byte preamble (DICOM PS3.10 7.1).
    """
    if head[_DICOM_MAGIC_OFFSET:_DICOM_MAGIC_OFFSET + 4] == b"DICM":
        return "DICOM"
    for signature, name in _SIGNATURES:
        if head.startswith(signature):
            return name
    return None


def _format_of(path) -> str:
    """The format of the file at ``path``, or ImageReadError saying what it is instead."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise ImageReadError(path, "no such image file")
    try:
        head = _head(path)
    except OSError as error:
        raise ImageReadError(path, f"cannot read: {error.strerror or first_line(error)}") from None
    found = sniff_format(head)
    if found is None:
        if not head:
            raise ImageReadError(path, "cannot decode: the file is empty")
        raise ImageReadError(
            path,
            f"cannot decode: not a {', '.join(FORMATS[:-1])} or {FORMATS[-1]} file "
            f"(it starts with {head[:8]!r})",
        )
    return found


def check_image_files(paths) -> list[str]:
    """Check that every file can be read, before any is decoded; return their formats.

    Each file must exist and be of one of :data:`FORMATS` by its content. DICOM files
    also have their headers read (without pixel data) and checked
    (:func:`disentangle_tf.data.dicom.header_problem`): an image, a supported
    photometric interpretation and an installed decoder for the transfer syntax
    (checked once per distinct transfer syntax).

    Raises:
        ImageReadError: for the first file that fails, with its ``index``.
    """
    formats = []
    for index, path in enumerate(paths):
        try:
            found = _format_of(path)
            if found == "DICOM":
                try:
                    problem = dicom.header_problem(dicom.read_header(path))
                except dicom.DicomError as error:
                    problem = str(error)
                if problem:
                    raise ImageReadError(path, problem)
        except ImageReadError as error:
            error.index = index
            raise
        formats.append(found)
    return formats


def _to_channels(pixels: np.ndarray, channels: int) -> np.ndarray:
    """Grey ``(h, w)`` or RGB ``(h, w, 3)`` pixels as ``(h, w, channels)`` float32."""
    if pixels.ndim == 2:
        pixels = pixels[..., None]
        return np.repeat(pixels, 3, axis=-1) if channels == 3 else pixels
    if channels == 1:
        return (pixels @ _GREY_TO_RGB)[..., None]
    return pixels


def read_pixels(path, channels: int = 1) -> np.ndarray:
    """Decode one image file to float32 ``(h, w, channels)`` pixels at its own size.

    The decoder is chosen from the file's content (:func:`sniff_format`). Values are the
    decoded ones (0-255 for 8-bit files, 0-65535 for 16-bit, DICOM stored values), not
    yet resized or z-scored.

    Args:
        path: the file.
        channels: 1 (grey) or 3 (RGB).

    Raises:
        ImageReadError: the file is missing, of an unknown format, or its pixels cannot
            be decoded or interpreted (naming the format, mode or photometric
            interpretation).
        ValueError: ``channels`` is not 1 or 3.
    """
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3; got {channels!r}")
    kind = _format_of(path)
    if kind == "DICOM":
        try:
            pixels = dicom.read_dicom(path)
        except dicom.DicomError as error:
            raise ImageReadError(path, str(error)) from None
    else:
        try:
            pixels = pillow_images.read_with_pillow(path, kind)
        except pillow_images.PillowError as error:
            raise ImageReadError(path, str(error)) from None
    return _to_channels(pixels, channels)


def standardize_images(pixels, image_size) -> tf.Tensor:
    """Resize a ``(N, h, w, C)`` batch to ``image_size`` and z-score each image on its own.

    The resize is bilinear with antialiasing; the z-score is
    ``tf.image.per_image_standardization``, as for the training images. Every image of
    the batch is computed as if it were alone.
    """
    import tensorflow as tf

    images = tf.image.resize(tf.convert_to_tensor(pixels, tf.float32), tuple(image_size), antialias=True)
    return tf.image.per_image_standardization(images)


def _decoded_in_order(paths, channels: int):
    """``(index, pixels)`` of every file, in order, decoded in a thread pool.

    At most a few files per thread are decoded ahead of the consumer, so memory stays
    bounded however many files there are.
    """
    workers = available_cpus()
    ahead = 4 * workers
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="read_pixels")
    pending = collections.deque()
    try:
        for index, path in enumerate(paths):
            pending.append((index, pool.submit(read_pixels, path, channels)))
            if len(pending) > ahead:
                yield _result(*pending.popleft())
        while pending:
            yield _result(*pending.popleft())
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _result(index: int, future):
    try:
        return index, future.result()
    except ImageReadError as error:
        error.index = index
        raise


def _is_constant(pixels: np.ndarray) -> bool:
    """Whether every pixel is the same, to float rounding (a colour converted to grey
    may differ in its last bit from pixel to pixel); a millionth of the largest value is
    far below one level of a 16-bit image."""
    low, high = float(pixels.min()), float(pixels.max())
    return high - low <= 1e-6 * max(abs(low), abs(high))


def _standardized(group, image_size, constant=None):
    indices = np.array([index for index, _ in group], np.int64)
    flat = np.array([_is_constant(pixels) for _, pixels in group])
    batch = standardize_images(np.stack([pixels for _, pixels in group]), image_size).numpy()
    batch[flat] = 0.0  # exactly: resizing leaves rounding noise that z-scoring would magnify
    if constant is not None:
        constant.extend(indices[flat].tolist())
    return indices, batch


def iter_image_batches(paths, image_size, channels: int = 1, batch_size: int = DECODE_BATCH_SIZE,
                       constant: list | None = None):
    """Batches of ``(indices, images)`` read from image files, each file once.

    Files are decoded in parallel (:func:`read_pixels`); images of the same decoded size
    are grouped into batches of up to ``batch_size`` (a last, smaller batch per size),
    and each batch is resized and z-scored at once (:func:`standardize_images`).
    ``indices`` are the positions in ``paths`` of the batch's images. Up to
    ``batch_size`` decoded images of every distinct size are held until emitted.

    Args:
        paths: image files (not checked up front: see :func:`read_images`).
        image_size: ``(height, width)`` of the outputs.
        channels: 1 (grey) or 3 (RGB).
        batch_size: the most images resized at once.
        constant: a list to which the index of every *constant* image is appended
            (every decoded pixel the same, a 1 x 1 image among them). Such an image
            is returned as zeros (z-scoring would magnify the resize's rounding into
            noise); it carries no information.

    Yields:
        ``(int64 (n,), float32 (n, height, width, channels))`` numpy arrays.

    Raises:
        ImageReadError: at the first file, in order, that cannot be read, with its
            ``index``.
    """
    groups: dict[tuple, list] = {}
    for index, pixels in _decoded_in_order(paths, channels):
        group = groups.setdefault(pixels.shape, [])
        group.append((index, pixels))
        if len(group) >= batch_size:
            yield _standardized(groups.pop(pixels.shape), image_size, constant)
    for group in groups.values():
        yield _standardized(group, image_size, constant)


def read_images(paths, image_size, channels: int = 1, check: bool = True, constant: list | None = None) -> np.ndarray:
    """Read image files as one ``(N, H, W, channels)`` float32 array, in the order given.

    Every image is decoded (:func:`read_pixels`), resized bilinearly with antialiasing
    to ``image_size`` and z-scored on its own (``tf.image.per_image_standardization``),
    as the training images are. A constant image (every pixel the same) is read as
    zeros.

    Args:
        paths: image files of any of :data:`FORMATS`.
        image_size: ``(H, W)``.
        channels: 1 (grey) or 3 (RGB).
        check: check every file up front (:func:`check_image_files`) before decoding
            any; pass False when that was just done.
        constant: a list to which the index of every constant image is appended
            (:func:`iter_image_batches`).

    Raises:
        ImageReadError: a ``ValueError`` naming the first file, in order, that is
            missing or cannot be read, with its ``index`` in ``paths``.
        ValueError: ``channels`` is not 1 or 3.
    """
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3; got {channels!r}")
    paths = [str(path) for path in paths]
    if check:
        check_image_files(paths)
    height, width = (int(side) for side in image_size)
    images = np.empty((len(paths), height, width, channels), np.float32)
    for indices, batch in iter_image_batches(paths, (height, width), channels, constant=constant):
        images[indices] = batch
    return images


def load_images(paths, image_size, channels: int = 1, constant: list | None = None) -> tf.Tensor:
    """Load image files as one ``(N, H, W, channels)`` float32 tensor, in the order given.

    As :func:`read_images`, as a tensor.

    Raises:
        ValueError: naming the first file that is missing or cannot be decoded.
    """
    import tensorflow as tf

    return tf.constant(read_images(paths, image_size, channels, constant=constant))
