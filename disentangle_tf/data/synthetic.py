"""Synthetic shapes data set (Experiment 1 of Meng et al., 2019).

Meng, Q., Pawlowski, N., Rueckert, D., Kainz, B. (2019), "Representation
Disentanglement for Multi-task Learning with application to Fetal Ultrasound".
Each image shows a grey (0.5) circle or axis-aligned rectangle, wholly inside the
image at a random position, on a black (0) or white (1) background, and is then
z-score normalised per image. There are two tasks:

* ``"background"``: 0 = black, 1 = white;
* ``"shape"``: 0 = circle, 1 = rectangle.

In the training split every circle lies on a white background, so the background
colour is a shortcut for the shape; the ``"unseen"`` split holds only circles on
black, a combination never seen in training (see ``SPLIT_COUNTS``).

The authors' sizes at 224 x 288 (height x width) are: circle radius 10-79 px;
rectangle half-height ``d`` 10-39 px and half-width ``4 d``. At other image sizes the
sizes are scaled by ``min(H / 224, W / 288)`` and clipped so that every shape fits.
The default size is the package's default image size (56 x 72), small enough to
train in minutes on a CPU; ``image_size=(224, 288)`` gives the paper's.

Circles are the pixels ``(y - cy)**2 + (x - cx)**2 <= r**2`` around an integer centre;
rectangles cover ``2 d`` rows and ``2 w`` columns (``w = 4 d`` unless clipped), so
their area is ``16 d**2`` pixels when unclipped.

Splits never share an image: every group's shape configurations (size and position)
are split into seeded pseudo-random parts, one per split that uses the group, and each
split draws (from its own random stream) only from its part. Within a split, small
images can repeat a configuration.

Rendering is vectorised: every shape is described by one column interval per image
row, and because each image has only two grey levels its z-score statistics follow
exactly from the shape's pixel count, so normalisation costs no extra pass over the
pixels.
"""

from __future__ import annotations

import math
from typing import Iterable

import numpy as np

from .arguments import DEFAULT_IMAGE_SIZE, check_image_size, check_seed, check_split, check_split_request
from .labelled_images import LabelledImages

__all__ = [
    "CLASS_NAMES",
    "DEFAULT_IMAGE_SIZE",
    "PAPER_IMAGE_SIZE",
    "PAPER_SPLITS",
    "SPLITS",
    "SPLIT_COUNTS",
    "TASKS",
    "make_synthetic_split",
    "make_synthetic_splits",
]

TASKS: tuple[str, ...] = ("background", "shape")
"""Task names, in the order (task A, task B) of the paper."""

CLASS_NAMES: dict[str, tuple[str, ...]] = {
    "background": ("black", "white"),
    "shape": ("circle", "rectangle"),
}
"""For each task, the name of class ``k`` at index ``k``."""

SPLITS: tuple[str, ...] = ("train", "val", "test", "unseen", "unseen_val", "oracle")
"""Split names. ``"unseen"`` is the unseen-combination test set (circles on black).
Two more splits of circles on black, disjoint from it, serve experiments only:
``"unseen_val"``, a validation set of the unseen combination for *oracle selection*
(DomainBed's term: choosing with data of the test distribution, a ceiling for what
validation-split selection can reach), and ``"oracle"``, images of the unseen
combination that the *oracle* row adds to its training split (a ceiling for the unseen
accuracy of a model that never sees the combination)."""

_GROUPS = ("circle-white", "rectangle-white", "rectangle-black", "circle-black")

SPLIT_COUNTS: dict[str, dict[str, int]] = {
    "train": dict(zip(_GROUPS, (600, 100, 500, 0))),
    "val": dict(zip(_GROUPS, (100, 100, 100, 0))),
    "test": dict(zip(_GROUPS, (100, 100, 100, 0))),
    "unseen": dict(zip(_GROUPS, (0, 0, 0, 100))),
    "unseen_val": dict(zip(_GROUPS, (0, 0, 0, 100))),
    "oracle": dict(zip(_GROUPS, (0, 0, 0, 100))),
}
"""Number of images per group (``"<shape>-<background>"``) in each split (the authors' split)."""

PAPER_IMAGE_SIZE: tuple[int, int] = (224, 288)
"""Image size ``(height, width)`` used in the paper."""

# Shape sizes in pixels at PAPER_IMAGE_SIZE (inclusive ranges).
_PAPER_RADIUS = (10, 79)
_PAPER_HALF_HEIGHT = (10, 39)
_ASPECT = 4  # rectangle half-width = _ASPECT * half-height
_MIN_RADIUS = 1
_MIN_HALF_HEIGHT = 2

_SHAPE_GREY = 0.5
_BACKGROUND_GREY = (0.0, 1.0)  # indexed by the background label


def _round_half_up(value: float) -> int:
    return int(math.floor(value + 0.5))


def _size_ranges(height: int, width: int) -> tuple[tuple[int, int], tuple[int, int], int]:
    """Scaled, clipped size ranges for an image of ``height`` x ``width`` pixels.

    Returns:
        ``((r_min, r_max), (d_min, d_max), w_max)``: the inclusive radius range, the
        inclusive rectangle half-height range and the largest rectangle half-width.
    """
    scale = min(height / PAPER_IMAGE_SIZE[0], width / PAPER_IMAGE_SIZE[1])
    r_max = min(
        max(_MIN_RADIUS, _round_half_up(_PAPER_RADIUS[1] * scale)), (min(height, width) - 1) // 2
    )
    r_min = min(max(_MIN_RADIUS, _round_half_up(_PAPER_RADIUS[0] * scale)), r_max)
    d_max = min(max(_MIN_HALF_HEIGHT, _round_half_up(_PAPER_HALF_HEIGHT[1] * scale)), height // 2)
    d_min = min(max(_MIN_HALF_HEIGHT, _round_half_up(_PAPER_HALF_HEIGHT[0] * scale)), d_max)
    return (r_min, r_max), (d_min, d_max), width // 2


def _sample_shapes(
    rng: np.random.Generator,
    shape: int,
    count: int,
    height: int,
    width: int,
    sizes: tuple[int, int],
    max_half_width: int,
) -> np.ndarray:
    """Random parameters ``(size, row, column)`` of ``count`` shapes, shape ``(count, 3)``.

    Circles (``shape == 0``): radius ``r`` and integer centre ``(cy, cx)`` with
    ``r <= cy <= height - 1 - r`` and ``r <= cx <= width - 1 - r``. Rectangles
    (``shape == 1``): half-height ``d`` and top-left corner ``(top, x0)`` with the
    ``2 d`` x ``2 w`` box inside the image, ``w = min(4 d, max_half_width)``.
    """
    size = rng.integers(sizes[0], sizes[1] + 1, size=count)
    if shape == 0:
        row = rng.integers(size, height - size)
        column = rng.integers(size, width - size)
    else:
        half_width = np.minimum(_ASPECT * size, max_half_width)
        row = rng.integers(0, height - 2 * size + 1)
        column = rng.integers(0, width - 2 * half_width + 1)
    return np.stack([size, row, column], axis=1)


def _mix64(values: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser: a well-mixed uint64 hash of each uint64 value."""
    z = values + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _partition(params: np.ndarray, height: int, width: int, seed: int, parts: int) -> np.ndarray:
    """Seeded pseudo-random part ``0 .. parts - 1`` of each shape configuration."""
    key = (params[:, 0] * (height + 1) + params[:, 1]) * (width + 1) + params[:, 2]
    salt = _mix64(np.array([seed % 2**64], dtype=np.uint64))
    return (_mix64(key.astype(np.uint64) ^ salt) % np.uint64(parts)).astype(np.int64)


def _sample_disjoint(
    rng: np.random.Generator,
    shape: int,
    count: int,
    height: int,
    width: int,
    sizes: tuple[int, int],
    max_half_width: int,
    seed: int,
    part: int,
    parts: int,
) -> np.ndarray:
    """Like ``_sample_shapes``, restricted to the configurations of part ``part``.

    The configurations of a group are split into ``parts`` seeded pseudo-random parts,
    one per split that uses the group, so that different splits never draw the same
    image. Sampling is by rejection, in vectorised rounds.
    """
    if parts == 1:
        return _sample_shapes(rng, shape, count, height, width, sizes, max_half_width)
    accepted, total, rounds = [], 0, 0
    while total < count:
        rounds += 1
        if rounds > 1000:  # pragma: no cover - needs a part with (almost) no configurations
            raise RuntimeError(
                f"could not draw {count} shapes for a {height} x {width} image from "
                f"part {part} of {parts} of the shape configurations"
            )
        candidates = _sample_shapes(
            rng, shape, 2 * parts * (count - total) + 16, height, width, sizes, max_half_width
        )
        candidates = candidates[_partition(candidates, height, width, seed, parts) == part]
        accepted.append(candidates)
        total += len(candidates)
    return np.concatenate(accepted)[:count]


def _shape_rows(
    shape: int, params: np.ndarray, height: int, width: int, max_half_width: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per-row column intervals ``[left, right]`` (``(N, H)`` each) of the shapes.

    Rows the shape does not touch get the empty interval ``[width, -1]``.
    """
    size, row, column = params[:, 0:1], params[:, 1:2], params[:, 2:3]
    rows = np.arange(height)[None, :]
    if shape == 0:
        dy = rows - row
        remainder = size * size - dy * dy
        inside = remainder >= 0
        half = np.floor(np.sqrt(np.maximum(remainder, 0))).astype(np.int64)
        left, right = column - half, column + half
    else:
        half_width = np.minimum(_ASPECT * size, max_half_width)
        inside = (rows >= row) & (rows < row + 2 * size)
        left, right = np.broadcast_to(column, inside.shape), column + 2 * half_width - 1
    return np.where(inside, left, width), np.where(inside, right, -1)


def _render(
    left: np.ndarray, right: np.ndarray, background: np.ndarray, width: int
) -> np.ndarray:
    """Z-scored float32 images ``(N, H, W, 1)`` from per-row shape intervals.

    Each raw image takes two values, the shape grey on the pixels ``left <= x <= right``
    of every row and the background grey elsewhere, so its mean and standard deviation
    follow exactly from the shape's pixel count ``n``: with ``p = n / (H W)`` and grey
    levels ``a`` (shape) and ``b`` (background), ``mean = p a + (1 - p) b`` and
    ``std = |a - b| sqrt(p (1 - p))``. The standard deviation is floored at
    ``1 / sqrt(H W)`` as in ``standardize_per_image``.
    """
    count, height = left.shape
    pixels = height * width
    start = np.clip(left, 0, width)
    run = np.clip(right - left + 1, 0, width - start)
    p = run.sum(axis=1) / pixels
    b = np.asarray(_BACKGROUND_GREY, dtype=np.float64)[background]
    mean = p * _SHAPE_GREY + (1.0 - p) * b
    std = np.abs(_SHAPE_GREY - b) * np.sqrt(p * (1.0 - p))
    std = np.maximum(std, 1.0 / math.sqrt(pixels))
    shape_value = ((_SHAPE_GREY - mean) / std).astype(np.float32)
    background_value = ((b - mean) / std).astype(np.float32)

    # Every row is three runs: background, shape, background. np.repeat writes them
    # straight into the output, one pass over the pixels.
    lengths = np.stack([start, run, width - start - run], axis=-1).reshape(-1)
    values = np.stack([background_value, shape_value, background_value], axis=-1)
    values = np.repeat(values[:, None, :], height, axis=1).reshape(-1)
    return np.repeat(values, lengths).reshape(count, height, width, 1)


def make_synthetic_split(
    split: str, image_size: tuple[int, int] = DEFAULT_IMAGE_SIZE, seed: int = 0
) -> LabelledImages:
    """Generate one split of the synthetic shapes data set.

    Images are grey (0.5) circles or rectangles on black (0) or white (1) backgrounds,
    z-score normalised per image (the ``tf.image.per_image_standardization``
    convention, see ``standardize_per_image``), in a seeded random order. The numbers
    of images per group are ``SPLIT_COUNTS[split]``, the split of Meng et al. (2019),
    Experiment 1.

    Args:
        split: one of ``SPLITS``: ``"train"``, ``"val"``, ``"test"``, ``"unseen"``,
            ``"unseen_val"`` or ``"oracle"``.
        image_size: ``(height, width)`` in pixels, each at least 16. The paper uses
            ``PAPER_IMAGE_SIZE`` = (224, 288); shape sizes scale with the image.
        seed: non-negative integer. The output is a deterministic function of
            ``(split, image_size, seed)``; each split draws from its own random stream
            and from its own part of the shape configurations, so the splits of one
            seed never share an image.

    Returns:
        A ``LabelledImages`` with float32 images of shape ``(N, height, width, 1)``,
        int64 labels ``{"background": 0 black / 1 white, "shape": 0 circle /
        1 rectangle}``, ``class_names`` equal to ``CLASS_NAMES`` and ``groups`` naming
        each image's group, for example ``"circle-white"``.

    Raises:
        ValueError: if ``split`` is unknown, ``image_size`` is not two integers of at
            least 16, or ``seed`` is negative.

    Example:
        >>> data = make_synthetic_split("unseen", image_size=(32, 40), seed=0)
        >>> data.images.shape
        (100, 32, 40, 1)
        >>> sorted(set(data.groups.tolist()))
        ['circle-black']
    """
    split_index = check_split(split, SPLITS)
    height, width = check_image_size(image_size)
    seed = check_seed(seed)
    rng = np.random.default_rng([seed, split_index])
    radii, half_heights, max_half_width = _size_ranges(height, width)

    lefts, rights, backgrounds, shapes, groups = [], [], [], [], []
    for group, count in SPLIT_COUNTS[split].items():
        if count == 0:
            continue
        shape_name, background_name = group.split("-")
        shape = CLASS_NAMES["shape"].index(shape_name)
        # The splits that use this group share out its configurations between them.
        users = [name for name in SPLITS if SPLIT_COUNTS[name][group] > 0]
        sizes = radii if shape == 0 else half_heights
        params = _sample_disjoint(
            rng, shape, count, height, width, sizes, max_half_width,
            seed, users.index(split), len(users),
        )
        left, right = _shape_rows(shape, params, height, width, max_half_width)
        lefts.append(left)
        rights.append(right)
        backgrounds.append(np.full(count, CLASS_NAMES["background"].index(background_name)))
        shapes.append(np.full(count, shape))
        groups.append(np.full(count, group))

    order = rng.permutation(sum(SPLIT_COUNTS[split].values()))
    left = np.concatenate(lefts)[order]
    right = np.concatenate(rights)[order]
    background = np.concatenate(backgrounds).astype(np.int64)[order]
    shape = np.concatenate(shapes).astype(np.int64)[order]
    return LabelledImages(
        images=_render(left, right, background, width),
        labels={"background": background, "shape": shape},
        class_names=dict(CLASS_NAMES),
        groups=np.concatenate(groups)[order],
    )


#: The splits a training run uses: the paper's four.
PAPER_SPLITS: tuple[str, ...] = ("train", "val", "test", "unseen")


def make_synthetic_splits(
    image_size: tuple[int, int] = DEFAULT_IMAGE_SIZE,
    seed: int = 0,
    splits: Iterable[str] = PAPER_SPLITS,
) -> dict[str, LabelledImages]:
    """Generate several splits of the synthetic shapes data set.

    ``make_synthetic_splits(size, seed)[name]`` equals
    ``make_synthetic_split(name, size, seed)``.

    Args:
        image_size: ``(height, width)`` in pixels, each at least 16.
        seed: non-negative integer seed shared by all splits (each split still uses its
            own random stream).
        splits: names of the splits to generate, each one of ``SPLITS`` (default: the
            paper's four, ``PAPER_SPLITS``).

    Returns:
        A dict from split name to its ``LabelledImages``, in the order of ``splits``.

    Raises:
        ValueError: if a split name is unknown or ``image_size`` or ``seed`` is invalid;
            all names are checked before any image is generated.

    Example:
        >>> data = make_synthetic_splits(image_size=(32, 40), splits=("train", "unseen"))
        >>> {name: len(images) for name, images in data.items()}
        {'train': 1200, 'unseen': 100}
    """
    splits = check_split_request(splits, SPLITS, image_size, seed)
    return {split: make_synthetic_split(split, image_size, seed) for split in splits}
