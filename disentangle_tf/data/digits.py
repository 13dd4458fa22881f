"""Real handwritten digits with a nuisance that training never shows on the digit 3.

Two generated data sets built from images that ship with scikit-learn, so nothing is
downloaded:

* the digits are ``sklearn.datasets.load_digits()``, scikit-learn's copy of the test
  part of the UCI *Optical Recognition of Handwritten Digits* data set (E. Alpaydin,
  C. Kaynak, 1998): 1,797 real handwritten digits as 8 x 8 images of counts 0-16;
  only the digits 0-4 are used (task ``"digit"``, five classes);
* the textures are the two photographs of ``sklearn.datasets.load_sample_images()``,
  ``china.jpg`` (a temple among trees) and ``flower.jpg`` (a flower), 427 x 640 each.

Every image shows one digit, upsampled bilinearly from its 8 x 8 source to a height of
55-80 % of the image's smaller side, rotated by up to 10 degrees and shifted anywhere
it fits. Its background depends on the data set (``VARIANTS``):

* ``"digits-shadow"``, nuisance task ``"shadow"`` (``"without"``, ``"with"``): bright
  strokes on a grey canvas with multiplicative speckle (gamma-distributed, mean 1) and a
  smooth gain field, as in ultrasound; an image "with" shadow also has a dark band from
  the top edge to the bottom, within 30 degrees of vertical, a quarter to a half of the
  image wide, that attenuates everything under it to 20-45 % with soft edges and
  crosses the digit in most images;
* ``"digits-texture"``, nuisance task ``"texture"`` (``"china"``, ``"flower"``): a
  greyscale crop of one of the two photographs (random position, a side of 50-100 % of
  the photograph's height, flipped left-right half of the time), its intensity reduced
  to [0, 0.5], under bright digit strokes.

Images are then z-scored one by one (``standardize_per_image``).

The missing combination (``MISSING_COMBINATION``) is the digit 3 with nuisance class 1
(``"with"`` shadow, the ``"flower"`` texture): in ``"train"``, ``"val"`` and
``"test"`` every 3 has nuisance class 0, every other digit has class 1 with probability
one half, drawn for each image on its own; ``"unseen"``, ``"unseen_val"`` and
``"oracle"`` hold only 3s with class 1.

No source image is in two splits: per digit, a seeded permutation of its source images
is cut by the fractions of ``SPLIT_FRACTIONS``, and every source of a split is rendered
``copies`` times (default 2), each copy with its own placement, background and (digits
other than 3) nuisance. With the default ``copies=2`` the number of images per split
and digit is (the same for every seed):

============  ====  ====  ====  ====  ====  =====
split         0     1     2     3     4     total
============  ====  ====  ====  ====  ====  =====
train         214   218   212   164   218   1026
val           54    54    54    38    54    254
test          88    92    88    54    90    412
unseen        0     0     0     56    0     56
unseen_val    0     0     0     26    0     26
oracle        0     0     0     28    0     28
============  ====  ====  ====  ====  ====  =====

The whole set of splits takes well under a second at 32 x 32 pixels.
"""

from __future__ import annotations

import functools
import math
from typing import Iterable

import numpy as np
from scipy import ndimage

from ..task_spec import TaskSpec
from .arguments import check_image_size, check_seed, check_split, check_split_request
from .dataset_splits import DatasetSplits
from .labelled_images import LabelledImages
from .normalization import standardize_per_image

__all__ = [
    "CLASS_NAMES",
    "DEFAULT_COPIES",
    "DEFAULT_IMAGE_SIZE",
    "DIGITS",
    "MISSING_COMBINATION",
    "SPLITS",
    "SPLIT_FRACTIONS",
    "TASKS",
    "VARIANTS",
    "load_digits_dataset",
    "make_digits_split",
    "make_digits_splits",
    "render_digits",
]

VARIANTS: dict[str, str] = {"digits-shadow": "shadow", "digits-texture": "texture"}
"""Data set name -> name of its nuisance task."""

DIGITS: tuple[str, ...] = ("0", "1", "2", "3", "4")
"""The digits used, the classes of the task ``"digit"``."""

_NUISANCE_CLASSES = {"shadow": ("without", "with"), "texture": ("china", "flower")}

TASKS: dict[str, tuple[str, str]] = {variant: ("digit", task) for variant, task in VARIANTS.items()}
"""Per data set, its task names in model order: the digit, then the nuisance."""

CLASS_NAMES: dict[str, dict[str, tuple[str, ...]]] = {
    variant: {"digit": DIGITS, task: _NUISANCE_CLASSES[task]} for variant, task in VARIANTS.items()
}
"""Per data set and task, the name of class ``k`` at index ``k``."""

MISSING_COMBINATION: dict[str, tuple[str, str]] = {
    variant: ("3", _NUISANCE_CLASSES[task][1]) for variant, task in VARIANTS.items()
}
"""Per data set, the ``(digit, nuisance class)`` that training and validation never show."""

SPLITS: tuple[str, ...] = ("train", "val", "test", "unseen", "unseen_val", "oracle")
"""Split names, as the synthetic shapes': ``"unseen"`` tests the missing combination;
``"unseen_val"`` (a validation set of it for oracle selection, a ceiling) and
``"oracle"`` (images of it that the oracle row adds to training, a ceiling) serve
experiments only."""

SPLIT_FRACTIONS: dict[str, dict[str, float]] = {
    "3": {"train": 0.45, "val": 0.1, "test": 0.15, "unseen": 0.15, "unseen_val": 0.075, "oracle": 0.075},
    "other": {"train": 0.6, "val": 0.15, "test": 0.25},
}
"""Fraction of each digit's source images in each split (``"other"``: every digit but 3)."""

DEFAULT_IMAGE_SIZE: tuple[int, int] = (32, 32)
"""Default ``(height, width)``."""

DEFAULT_COPIES = 2
"""Default number of renderings of every source image."""

_MISSING_DIGIT = DIGITS.index("3")
_UNSEEN_SPLITS = ("unseen", "unseen_val", "oracle")

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


# ----------------------------------------------------------------------------- sources


@functools.lru_cache(maxsize=1)
def _sources() -> tuple[np.ndarray, np.ndarray]:
    """``(images, digits)``: the 8 x 8 source images of the digits 0-4 as float32 in
    [0, 1] with a border of zeros (10 x 10), and their int64 digits; read-only."""
    from sklearn.datasets import load_digits

    data = load_digits()
    keep = data.target < len(DIGITS)
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


def _check_variant(variant: str) -> str:
    if not isinstance(variant, str) or variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; expected one of "
                         + ", ".join(repr(name) for name in VARIANTS))
    return VARIANTS[variant]


def _check_copies(copies: int) -> int:
    if not isinstance(copies, (int, np.integer)) or isinstance(copies, bool) or copies < 1:
        raise ValueError(f"copies: expected an integer >= 1, got {copies!r}")
    return int(copies)


def _split_sources(split: str, seed: int) -> np.ndarray:
    """Indices (into ``_sources()``) of the source images of ``split``, sorted: per
    digit a seeded permutation of its sources cut by ``SPLIT_FRACTIONS``."""
    _, digits = _sources()
    chosen = []
    for digit in range(len(DIGITS)):
        fractions = SPLIT_FRACTIONS["3" if digit == _MISSING_DIGIT else "other"]
        if split not in fractions:
            continue
        members = np.flatnonzero(digits == digit)
        order = np.random.default_rng([seed, 7, digit]).permutation(len(members))
        names = list(fractions)
        bounds = np.rint(np.cumsum([0.0, *fractions.values()]) * len(members)).astype(int)
        k = names.index(split)
        chosen.append(members[order[bounds[k]:bounds[k + 1]]])
    return np.sort(np.concatenate(chosen))


# ----------------------------------------------------------------------------- rendering


def _bilinear(stack: np.ndarray, which: np.ndarray, rows: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """``stack[which]`` sampled bilinearly at ``(rows, columns)`` (pixel indices, shape
    ``(N, H, W)``), 0 outside; one call for every image."""
    index = np.broadcast_to(which[:, None, None], rows.shape).astype(np.float32)
    return ndimage.map_coordinates(stack, [index, rows, columns], order=1, mode="constant", cval=0.0)


def _digit_layer(rng: np.random.Generator, sources: np.ndarray, height: int, width: int):
    """The digits, placed: float32 ``(N, H, W)`` in [0, 1], and each digit's centre
    ``(row, column)`` and height in pixels."""
    images, _ = _sources()
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


def render_digits(
    variant: str,
    sources: np.ndarray,
    nuisance: np.ndarray,
    image_size: tuple[int, int] = DEFAULT_IMAGE_SIZE,
    seed: int = 0,
) -> np.ndarray:
    """Raw (not z-scored) images of given source digits with given nuisance classes.

    Every random draw (placement, canvas, shadow band, photograph crop) is made for
    every image whatever its nuisance class, so the same ``sources`` and ``seed`` with
    other ``nuisance`` values give the same scenes with only the nuisance changed.

    Args:
        variant: one of ``VARIANTS``.
        sources: int array ``(N,)`` of indices into the digits 0-4 of
            ``sklearn.datasets.load_digits()``, in its order (what
            ``make_digits_split(..., return_sources=True)`` returns).
        nuisance: int array ``(N,)`` of nuisance classes, 0 or 1.
        image_size: ``(height, width)``, each at least 16.
        seed: non-negative integer.

    Returns:
        float32 array ``(N, H, W)`` of intensities >= 0 (at most about 1 before speckle).

    Raises:
        ValueError: for an unknown variant, an invalid image size or seed, or sources or
            nuisance values out of range or of different lengths.
    """
    task = _check_variant(variant)
    height, width = check_image_size(image_size)
    seed = check_seed(seed)
    sources = np.asarray(sources)
    nuisance = np.asarray(nuisance)
    count = len(_sources()[1])
    if sources.ndim != 1 or not np.issubdtype(sources.dtype, np.integer) or (
            sources.size and (sources.min() < 0 or sources.max() >= count)):
        raise ValueError(f"sources: expected a 1-D integer array of indices in [0, {count}), got {sources!r}")
    if nuisance.shape != sources.shape or (nuisance.size and not np.isin(nuisance, (0, 1)).all()):
        raise ValueError(f"nuisance: expected {len(sources)} values, each 0 or 1, got {nuisance!r}")
    rng = np.random.default_rng([seed, list(VARIANTS).index(variant), len(SPLITS)])
    return _render(rng, task, sources, nuisance, height, width)


def _render(rng, task, sources, nuisance, height, width) -> np.ndarray:
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


# ----------------------------------------------------------------------------- splits


def _nuisance(rng: np.random.Generator, split: str, digits: np.ndarray) -> np.ndarray:
    """Nuisance classes: 1 for every 3 in the unseen splits, 0 for every other 3, and a
    fair coin per image for the other digits."""
    coin = (rng.random(len(digits)) < 0.5).astype(np.int64)
    three = np.int64(split in _UNSEEN_SPLITS)
    return np.where(digits == _MISSING_DIGIT, three, coin)


def make_digits_split(
    variant: str,
    split: str,
    image_size: tuple[int, int] = DEFAULT_IMAGE_SIZE,
    seed: int = 0,
    copies: int = DEFAULT_COPIES,
    return_sources: bool = False,
):
    """Generate one split of a digits data set.

    Args:
        variant: ``"digits-shadow"`` or ``"digits-texture"`` (``VARIANTS``).
        split: one of ``SPLITS``.
        image_size: ``(height, width)`` in pixels, each at least 16.
        seed: non-negative integer. The output is a deterministic function of
            ``(variant, split, image_size, seed, copies)``; the seed chooses the
            partition of the source images and every random draw.
        copies: integer >= 1, renderings of every source image.
        return_sources: also return the source image of every image.

    Returns:
        A ``LabelledImages`` with float32 images ``(N, H, W, 1)``, each z-scored on its
        own, in a seeded random order; int64 labels ``{"digit": 0-4, <nuisance task>:
        0 or 1}``; ``class_names`` of those tasks; and ``groups`` such as
        ``"3-with"`` or ``"1-china"``. With ``return_sources``, the pair
        ``(images, sources)``, ``sources`` an int64 array ``(N,)`` of indices into the
        digits 0-4 of ``sklearn.datasets.load_digits()`` in its order.

    Raises:
        ValueError: if ``variant``, ``split``, ``image_size``, ``seed`` or ``copies`` is
            invalid.

    Example:
        >>> data = make_digits_split("digits-shadow", "unseen", image_size=(24, 24))
        >>> data.images.shape, sorted(set(data.groups.tolist()))
        ((56, 24, 24, 1), ['3-with'])
    """
    task = _check_variant(variant)
    split_index = check_split(split, SPLITS)
    height, width = check_image_size(image_size)
    seed = check_seed(seed)
    copies = _check_copies(copies)
    rng = np.random.default_rng([seed, list(VARIANTS).index(variant), split_index, copies])
    sources = np.repeat(_split_sources(split, seed), copies)
    sources = sources[rng.permutation(len(sources))]
    digits = _sources()[1][sources]
    nuisance = _nuisance(rng, split, digits)
    raw = _render(rng, task, sources, nuisance, height, width)
    names = CLASS_NAMES[variant]
    groups = np.char.add(np.char.add(np.asarray(DIGITS)[digits], "-"), np.asarray(names[task])[nuisance])
    data = LabelledImages(
        images=standardize_per_image(raw[..., None]),
        labels={"digit": digits, task: nuisance},
        class_names=dict(names),
        groups=groups,
    )
    return (data, sources.astype(np.int64)) if return_sources else data


def make_digits_splits(
    variant: str,
    image_size: tuple[int, int] = DEFAULT_IMAGE_SIZE,
    seed: int = 0,
    copies: int = DEFAULT_COPIES,
    splits: Iterable[str] = SPLITS,
) -> dict[str, LabelledImages]:
    """Generate several splits; ``result[name] == make_digits_split(variant, name, ...)``.

    Args:
        variant: one of ``VARIANTS``.
        image_size: ``(height, width)`` in pixels, each at least 16.
        seed: non-negative integer.
        copies: integer >= 1, renderings of every source image.
        splits: names of the splits to generate, each one of ``SPLITS`` (default: all).

    Returns:
        A dict from split name to its ``LabelledImages``, in the order of ``splits``.

    Raises:
        ValueError: if an argument is invalid; all are checked before any image is made.
    """
    _check_variant(variant)
    splits = check_split_request(splits, SPLITS, image_size, seed)
    _check_copies(copies)
    return {split: make_digits_split(variant, split, image_size, seed, copies) for split in splits}


def load_digits_dataset(
    variant: str, image_size: tuple[int, int] = DEFAULT_IMAGE_SIZE, seed: int = 0
) -> DatasetSplits:
    """A digits data set, ready for training.

    Args:
        variant: one of ``VARIANTS``.
        image_size: ``(height, width)`` in pixels, each at least 16.
        seed: non-negative integer.

    Returns:
        A ``DatasetSplits`` with the tasks ``digit`` (five classes) and the nuisance (two),
        training on ``"train"``, validating on ``"val"`` and evaluating ``"val"``,
        ``"test"`` and ``"unseen"``; its relevant task is ``"digit"``.

    Raises:
        ValueError: if an argument is invalid.
    """
    task = _check_variant(variant)
    splits = make_digits_splits(variant, image_size, seed, splits=("train", "val", "test", "unseen"))
    names = CLASS_NAMES[variant]
    return DatasetSplits(
        tasks=[TaskSpec("digit", len(DIGITS), class_names=names["digit"]),
               TaskSpec(task, 2, class_names=names[task])],
        train=splits["train"],
        validation=splits["val"],
        evaluation={name: splits[name] for name in ("val", "test", "unseen")},
        relevant_task="digit",
    )
