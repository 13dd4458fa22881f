"""Drawing the images of the digits data sets (:mod:`disentangle_tf.data.digits`).

The digits are the 8 x 8 images of ``sklearn.datasets.load_digits()``, the textures the
two photographs of ``sklearn.datasets.load_sample_images()``; both are read once per
process. Every function draws all its images at once (one ``map_coordinates`` call per
layer), from a given random generator, so that the images are a deterministic
function of the generator's state.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from scipy import ndimage

#: The digits drawn: 0 to ``DIGIT_COUNT - 1``.
DIGIT_COUNT = 5

# Appearance, as fractions of the image or intensities in [0, 1].
_DIGIT_HEIGHT = (0.55, 0.80)  # of the smaller image side
_MAX_ROTATION = math.radians(10.0)
_TISSUE, _STROKE = 0.25, 1.0  # shadow canvas: background and stroke levels before gain and speckle
_SPECKLE_SHAPE = 10.0  # gamma shape of the multiplicative speckle (mean 1, sd 1 / sqrt(shape))
_GAIN = (0.7, 1.3)  # range of the smooth gain field, set on a 3 x 3 grid
_SHADOW_ANGLE = math.radians(30.0)  # from vertical
_SHADOW_WIDTH = (0.25, 0.5)  # of the image width
_SHADOW_LEVEL = (0.2, 0.45)  # intensity factor in the band
_SHADOW_EDGE = 0.06  # soft edge, of the image width
_CROP_SCALE = (0.5, 1.0)  # crop height, of the photograph's height
_TEXTURE_MAX = 0.5  # photograph intensity range [0, _TEXTURE_MAX]


@functools.lru_cache(maxsize=1)
def source_images() -> tuple[np.ndarray, np.ndarray]:
    """``(images, digits)``: the 8 x 8 source images of the digits 0-4 as float32 in
    [0, 1] with a border of zeros (10 x 10), and their int64 digits; read-only."""
    from sklearn.datasets import load_digits

    data = load_digits()
    keep = data.target < DIGIT_COUNT
    images = np.pad(data.images[keep] / 16.0, ((0, 0), (1, 1), (1, 1))).astype(np.float32)
    digits = data.target[keep].astype(np.int64)
    images.flags.writeable = digits.flags.writeable = False
    return images, digits


@functools.lru_cache(maxsize=1)
def _photographs() -> np.ndarray:
    """The two sample photographs (china, flower) in greyscale, float32 in [0, 1],
    shape ``(2, 427, 640)``; read-only."""
    from sklearn.datasets import load_sample_images

    photos = load_sample_images()
    by_name = {name.replace("\\", "/").rsplit("/", 1)[-1]: image
               for name, image in zip(photos.filenames, photos.images)}
    rgb = np.stack([by_name["china.jpg"], by_name["flower.jpg"]]).astype(np.float32) / 255.0
    grey = rgb @ np.array([0.2989, 0.5870, 0.1140], dtype=np.float32)  # ITU-R BT.601 luma
    grey.flags.writeable = False
    return grey


@functools.lru_cache(maxsize=8)
def _smoothed_photographs(height: int) -> tuple[np.ndarray, float]:
    """The photographs block-averaged so that the smallest crop is about twice the
    output height (bilinear sampling then hardly aliases), and the factor used."""
    photos = _photographs()
    factor = max(1, int(_CROP_SCALE[0] * photos.shape[1] / (2 * height)))
    rows, columns = photos.shape[1] // factor, photos.shape[2] // factor
    blocks = photos[:, :rows * factor, :columns * factor].reshape(2, rows, factor, columns, factor)
    small = np.pad(blocks.mean(axis=(2, 4)), ((0, 0), (1, 1), (1, 1)), mode="edge")
    small.flags.writeable = False
    return small, float(factor)


def _bilinear(stack: np.ndarray, which: np.ndarray, rows: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """``stack[which]`` sampled bilinearly at ``(rows, columns)`` (pixel indices, shape
    ``(N, H, W)``), 0 outside; one call for every image."""
    index = np.broadcast_to(which[:, None, None], rows.shape).astype(np.float32)
    return ndimage.map_coordinates(stack, [index, rows, columns], order=1, mode="constant", cval=0.0)


def _digit_layer(rng: np.random.Generator, sources: np.ndarray, height: int, width: int):
    """The digits, placed: float32 ``(N, H, W)`` in [0, 1], and each digit's centre
    ``(row, column)`` and height in pixels."""
    images, _ = source_images()
    count = len(sources)
    side = _DIGIT_HEIGHT[0] + (_DIGIT_HEIGHT[1] - _DIGIT_HEIGHT[0]) * rng.random(count)
    side *= min(height, width)  # digit height (and width) in pixels
    angle = rng.uniform(-_MAX_ROTATION, _MAX_ROTATION, count)
    reach = side / 2 * (np.abs(np.cos(angle)) + np.abs(np.sin(angle)))  # half-extent when rotated
    centre_y = reach + (height - 2 * reach) * rng.random(count)
    centre_x = reach + (width - 2 * reach) * rng.random(count)
    y = np.arange(height, dtype=np.float32)[None, :, None] + 0.5 - centre_y[:, None, None]
    x = np.arange(width, dtype=np.float32)[None, None, :] + 0.5 - centre_x[:, None, None]
    cos, sin, scale = (v[:, None, None] for v in (np.cos(angle), np.sin(angle), 8.0 / side))
    # Output pixel -> source pixel index: rotate back, scale to the 8 x 8 grid (its
    # centre at 4, pixel centres at k + 0.5, plus the one-pixel border).
    rows = (cos * y + sin * x) * scale + 4.5
    columns = (-sin * y + cos * x) * scale + 4.5
    return np.clip(_bilinear(images, sources, rows, columns), 0.0, 1.0), (centre_y, centre_x, side)


def _smooth_field(rng: np.random.Generator, count: int, height: int, width: int) -> np.ndarray:
    """A smooth gain field per image: values in ``_GAIN`` on a 3 x 3 grid, bilinear between."""
    grid = rng.uniform(*_GAIN, (count, 3, 3)).astype(np.float32)
    rows = np.broadcast_to(np.linspace(0, 2, height, dtype=np.float32)[None, :, None], (count, height, width))
    columns = np.broadcast_to(np.linspace(0, 2, width, dtype=np.float32)[None, None, :], (count, height, width))
    return ndimage.map_coordinates(grid, [np.broadcast_to(np.arange(count, dtype=np.float32)[:, None, None],
                                                          rows.shape), rows, columns], order=1)


def _shadow_factor(rng, count, height, width, placement) -> np.ndarray:
    """Multiplicative factor ``(N, H, W)`` of a dark band down from the top edge.

    The band's centre line passes through a point of the digit's centre row near the
    digit (so that it darkens part of the digit in most images) and leans by up to
    ``_SHADOW_ANGLE``, towards whichever side keeps its start on the top edge.
    """
    centre_y, centre_x, side = placement
    lean = np.tan(rng.uniform(-_SHADOW_ANGLE, _SHADOW_ANGLE, count))
    band = rng.uniform(*_SHADOW_WIDTH, count) * width
    level = rng.uniform(*_SHADOW_LEVEL, count)
    through = np.clip(centre_x + rng.uniform(-1.0, 1.0, count) * (band + 0.6 * side) / 2, 0, width)
    top = through - lean * centre_y  # where the centre line meets the top edge
    outside = (top < 0) | (top > width)
    lean = np.where(outside, -lean, lean)
    top = np.clip(np.where(outside, through - lean * centre_y, top), 0, width)
    cos = 1 / np.sqrt(1 + lean**2)
    y = np.arange(height, dtype=np.float32)[None, :, None] + 0.5
    x = np.arange(width, dtype=np.float32)[None, None, :] + 0.5 - top[:, None, None]
    distance = np.abs(x - y * lean[:, None, None]) * cos[:, None, None]
    edge = max(_SHADOW_EDGE * width, 1.0)
    inside = np.clip((band[:, None, None] / 2 - distance) / edge + 0.5, 0.0, 1.0)
    inside = inside * inside * (3 - 2 * inside)  # smoothstep
    return (1.0 - (1.0 - level[:, None, None]) * inside).astype(np.float32)


def _texture_layer(rng, count: int, height: int, width: int, photo: np.ndarray) -> np.ndarray:
    """Greyscale crops of the photographs ``photo`` (0 china, 1 flower), in [0, 1]."""
    small, factor = _smoothed_photographs(height)
    full_rows, full_columns = (side / factor for side in _photographs().shape[1:])
    crop_height = rng.uniform(*_CROP_SCALE, count) * full_rows
    crop_height = np.minimum(crop_height, full_columns * height / width)  # the crop's width must fit
    crop_width = crop_height * width / height
    top = rng.random(count) * (full_rows - crop_height)
    left = rng.random(count) * (full_columns - crop_width)
    flip = rng.random(count) < 0.5
    u = (np.arange(height, dtype=np.float32) + 0.5) / height
    v = (np.arange(width, dtype=np.float32) + 0.5) / width
    v = np.where(flip[:, None], 1.0 - v[None, :], v[None, :])
    # Position p in photograph pixels (of the block-averaged photograph) is index
    # p - 0.5 (pixel centres) + 1 (the border).
    rows = top[:, None, None] + crop_height[:, None, None] * u[None, :, None] + 0.5
    columns = left[:, None, None] + crop_width[:, None, None] * v[:, None, :] + 0.5
    rows, columns = np.broadcast_arrays(rows, columns)
    return _bilinear(small, photo, rows, columns)


def render(rng: np.random.Generator, task: str, sources: np.ndarray, nuisance: np.ndarray, height: int,
           width: int) -> np.ndarray:
    """Raw images ``(N, H, W)``, float32, of the source digits ``sources`` (indices into
    ``source_images()``) with nuisance classes ``nuisance`` (0 or 1) of the task ``task``
    (``"shadow"`` or ``"texture"``). Every random draw is made for every image, whatever
    its nuisance class."""
    count = len(sources)
    digit, placement = _digit_layer(rng, sources, height, width)
    if task == "shadow":
        gain = _smooth_field(rng, count, height, width)
        speckle = rng.gamma(_SPECKLE_SHAPE, 1.0 / _SPECKLE_SHAPE, (count, height, width)).astype(np.float32)
        shadow = _shadow_factor(rng, count, height, width, placement)
        shadow = np.where(nuisance[:, None, None] == 1, shadow, np.float32(1.0))
        return (_TISSUE + (_STROKE - _TISSUE) * digit) * gain * speckle * shadow
    background = _TEXTURE_MAX * _texture_layer(rng, count, height, width, nuisance)
    return background + (1.0 - background) * digit
