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

from typing import Iterable

import numpy as np

from ..task_spec import TaskSpec
from .arguments import check_image_size, check_seed, check_split, check_split_request
from .dataset_splits import DatasetSplits
from .digits_rendering import render, source_images
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
    """Indices (into ``source_images()``) of the source images of ``split``, sorted: per
    digit a seeded permutation of its sources cut by ``SPLIT_FRACTIONS``."""
    _, digits = source_images()
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
    count = len(source_images()[1])
    if sources.ndim != 1 or not np.issubdtype(sources.dtype, np.integer) or (
            sources.size and (sources.min() < 0 or sources.max() >= count)):
        raise ValueError(f"sources: expected a 1-D integer array of indices in [0, {count}), got {sources!r}")
    if nuisance.shape != sources.shape or (nuisance.size and not np.isin(nuisance, (0, 1)).all()):
        raise ValueError(f"nuisance: expected {len(sources)} values, each 0 or 1, got {nuisance!r}")
    rng = np.random.default_rng([seed, list(VARIANTS).index(variant), len(SPLITS)])
    return render(rng, task, sources, nuisance, height, width)



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
    digits = source_images()[1][sources]
    nuisance = _nuisance(rng, split, digits)
    raw = render(rng, task, sources, nuisance, height, width)
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
