"""Public API of us-sim: tasks, the split of Table 1, and the generators of images and splits."""

from __future__ import annotations

import math
from typing import Iterable

import numpy as np

from ...task_spec import TaskSpec
from ..arguments import check_image_size, check_seed, check_split, check_split_request
from ..labelled_images import LabelledImages
from ..normalization import standardize_per_image
from .geometry import DEFAULT_IMAGE_SIZE, Geometry
from .scene import render_group
from .shadows import DEFAULT_SHADOW_SALIENCE, check_shadow_salience

TASKS: tuple[str, ...] = ("plane", "shadow")
"""Task names, in model order."""

CLASS_NAMES: dict[str, tuple[str, ...]] = {
    "plane": ("3VV", "LVOT", "Abd"),
    "shadow": ("without", "with"),
}
"""For each task, the name of class ``k`` at index ``k``."""

PLANES: tuple[str, ...] = ("3VV", "LVOT", "Abd", "Others")
"""Simulated planes: the three plane-task classes and ``"Others"``."""

SPLITS: tuple[str, ...] = ("train", "val", "test_seen", "lvot_with_shadow", "others", "oracle")
"""Split names: the columns of Table 1 of the paper, then ``"oracle"``, more LVOT images
with a shadow (disjoint from ``"lvot_with_shadow"``) that the *oracle* row of
``python -m disentangle_tf.reproduce`` adds to its training split (a ceiling for the
unseen accuracy of a model that never sees the combination); it serves experiments only."""

_EVALUATED = ("val", "test_seen", "lvot_with_shadow", "others")  # the splits a run evaluates

GROUPS: tuple[str, ...] = tuple(
    f"{plane}-{shadow}" for plane in PLANES for shadow in ("without", "with")
)
"""Group names ``"<plane>-<without|with>"``, for example ``"3VV-with"``."""


def _counts(values) -> dict[str, int]:
    return dict(zip(GROUPS, values))


SPLIT_COUNTS: dict[str, dict[str, int]] = {
    "train": _counts((180, 320, 500, 0, 125, 375, 0, 0)),
    "val": _counts((50, 50, 50, 0, 50, 50, 0, 0)),
    "test_seen": _counts((334, 41, 79, 0, 190, 220, 0, 0)),
    "lvot_with_shadow": _counts((0, 0, 0, 418, 0, 0, 0, 0)),
    "others": _counts((0, 0, 0, 0, 0, 0, 3159, 2211)),
    "oracle": _counts((0, 0, 0, 83, 0, 0, 0, 0)),
}
"""Images per group in each split at ``scale = 1``: Table 1 of the paper, and the oracle's
split, a sixth of the training LVOT images (83 of 500), as the synthetic shapes' and the
digits' oracle splits are of the training images of their class (100 of 600 circles,
28 of 164 threes)."""

DEFAULT_SCALE = 0.5
"""Default fraction of the paper's group sizes (751 training images)."""

# --------------------------------------------------------------------------- checks


def _check_scale(scale: float) -> float:
    if isinstance(scale, bool) or not isinstance(scale, (int, float, np.integer, np.floating)):
        raise ValueError(f"scale: expected a number > 0, got {scale!r}")
    if not math.isfinite(scale) or scale <= 0:
        raise ValueError(f"scale: expected a number > 0, got {scale!r}")
    return float(scale)


def split_counts(scale: float = DEFAULT_SCALE) -> dict[str, dict[str, int]]:
    """Images per group in each split for a given ``scale``.

    Every non-zero count of ``SPLIT_COUNTS`` becomes ``max(1, round(count * scale))``
    (halves rounded up); empty groups stay empty.

    Args:
        scale: number > 0; 1 gives Table 1 of the paper.

    Returns:
        A dict ``{split: {group: count}}`` with the keys of ``SPLIT_COUNTS``.

    Example:
        >>> split_counts(0.5)["train"]["3VV-with"]
        160
    """
    scale = _check_scale(scale)
    return {
        split: {
            group: 0 if count == 0 else max(1, int(math.floor(count * scale + 0.5)))
            for group, count in groups.items()
        }
        for split, groups in SPLIT_COUNTS.items()
    }


# ------------------------------------------------------------------------- images


def render_raw(
    plane: str,
    shadow: bool,
    count: int,
    image_size: tuple[int, int] = DEFAULT_IMAGE_SIZE,
    seed: int = 0,
    cast_shadows: bool = True,
    shadow_salience: float = DEFAULT_SHADOW_SALIENCE,
) -> tuple[np.ndarray, np.ndarray]:
    """Raw (not normalised) images of one group, with their shadow factors.

    The same arguments with ``cast_shadows=False`` give the same scenes (anatomy,
    reflectors, speckle) with the shadows left out, which shows what a shadow hides.

    Args:
        plane: one of ``PLANES``.
        shadow: whether the images have acoustic shadows.
        count: number of images.
        image_size: ``(height, width)``, each at least 16.
        seed: non-negative integer.
        cast_shadows: multiply the images by their shadow factors.
        shadow_salience: how conspicuous the labelled shadows are, a number in (0, 4]:
            a labelled core factor ``c`` becomes ``c ** shadow_salience`` and its
            half-width grows by ``sqrt(shadow_salience)``; 1 (default) is the calibrated
            simulator. The scenes (anatomy, bones, faint shadows, speckle) are the same
            at every salience.

    Returns:
        ``(raw, factor)``, two float32 arrays of shape ``(count, H, W)``: the
        log-compressed images (0 outside the fan) and the multiplicative shadow
        factor of every pixel (1 where no bone shadows it; in the core of a labelled
        shadow ``APPEARANCE.shadow_with`` raised to ``shadow_salience``, behind other
        bone the faint ``APPEARANCE.shadow_without``), computed whether or not it is
        applied.

    Example:
        >>> raw, factor = render_raw("LVOT", True, 2, seed=1)
        >>> raw.shape, bool(factor.min() < 0.5)
        ((2, 48, 60), True)
    """
    if plane not in PLANES:
        raise ValueError(f"unknown plane {plane!r}; expected one of {', '.join(PLANES)}")
    height, width = check_image_size(image_size)
    salience = check_shadow_salience(shadow_salience)
    rng = np.random.default_rng([check_seed(seed), 1000 + PLANES.index(plane), int(bool(shadow))])
    raw, factor, _ = render_group(rng, Geometry(height, width), plane, bool(shadow), int(count), cast_shadows,
                                  salience=salience)
    return raw, factor


def render_anatomy(
    plane: str,
    shadow: bool,
    count: int,
    image_size: tuple[int, int] = DEFAULT_IMAGE_SIZE,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Coverage masks of the structures drawn in the images ``render_raw`` makes.

    Same arguments as ``render_raw`` (same scenes, which do not depend on the shadow
    salience). Kinds: ``"body"`` (skin outline),
    ``"heart"`` (myocardium and chambers), ``"vessel"`` (vessel lumina in cross-section),
    ``"tract"`` (tube-like lumina: the LVOT's outflow tract, the umbilical vein),
    ``"stomach"`` and ``"bone"`` (spine, ribs); a kind the plane never draws is absent.

    Returns:
        ``{kind: float32 array (count, H, W)}`` of coverage in [0, 1] (the pixels the
        structure covers when drawn, before later structures are drawn over it).

    Raises:
        ValueError: for an unknown plane or an invalid ``image_size`` or ``seed``.
    """
    if plane not in PLANES:
        raise ValueError(f"unknown plane {plane!r}; expected one of {', '.join(PLANES)}")
    height, width = check_image_size(image_size)
    rng = np.random.default_rng([check_seed(seed), 1000 + PLANES.index(plane), int(bool(shadow))])
    _, _, masks = render_group(rng, Geometry(height, width), plane, bool(shadow), int(count), record=True)
    return masks


# ---------------------------------------------------------------------------- splits


def make_us_sim_split(
    split: str,
    image_size: tuple[int, int] = DEFAULT_IMAGE_SIZE,
    scale: float = DEFAULT_SCALE,
    seed: int = 0,
    shadow_salience: float = DEFAULT_SHADOW_SALIENCE,
) -> LabelledImages:
    """Generate one split of the simulated fetal ultrasound data set.

    Args:
        split: one of ``SPLITS`` (``"oracle"``: LVOT with a shadow, drawn from its own
            random stream, so that its images are not those of ``"lvot_with_shadow"``).
        image_size: ``(height, width)`` in pixels, each at least 16; the paper uses
            ``PAPER_IMAGE_SIZE`` = (224, 288).
        scale: fraction of the paper's group sizes (``split_counts``).
        seed: non-negative integer. The output is a deterministic function of
            ``(split, image_size, scale, seed, shadow_salience)``; every split and
            group draws from its own random stream.
        shadow_salience: how conspicuous the labelled shadows are, a number in (0, 4]
            (``render_raw``); 1 (default) is the calibrated simulator. Higher values
            make the shadow a stronger shortcut for the plane: in training only 3VV
            and Abd images have one. Only the labelled shadows change; the labels,
            the order and the rest of every image are the same at every salience.

    Returns:
        A ``LabelledImages`` with float32 images ``(N, H, W, 1)``, each z-scored on
        its own (``standardize_per_image``), in a seeded random order; int64 labels
        ``{"plane": 0 3VV / 1 LVOT / 2 Abd, "shadow": 0 without / 1 with}`` (only
        ``"shadow"`` for ``"others"``); ``class_names`` for those tasks; and
        ``groups`` such as ``"3VV-with"``.

    Raises:
        ValueError: if ``split``, ``image_size``, ``scale``, ``seed`` or
            ``shadow_salience`` is invalid.

    Example:
        >>> data = make_us_sim_split("lvot_with_shadow", scale=0.01)
        >>> data.images.shape, sorted(data.labels)
        ((4, 48, 60, 1), ['plane', 'shadow'])
    """
    split_index = check_split(split, SPLITS)
    height, width = check_image_size(image_size)
    counts = split_counts(scale)[split]
    seed = check_seed(seed)
    salience = check_shadow_salience(shadow_salience)
    geom = Geometry(height, width)

    images, planes, shadows, groups = [], [], [], []
    for group_index, (group, count) in enumerate(counts.items()):
        if count == 0:
            continue
        plane, shadow_name = group.split("-")
        shadow = shadow_name == "with"
        rng = np.random.default_rng([seed, split_index, group_index])
        raw, _, _ = render_group(rng, geom, plane, shadow, count, salience=salience)
        images.append(standardize_per_image(raw[..., None]))
        planes.append(np.full(count, PLANES.index(plane)))
        shadows.append(np.full(count, int(shadow)))
        groups.append(np.full(count, group))

    order = np.random.default_rng([seed, split_index, len(GROUPS)]).permutation(sum(counts.values()))
    plane_labels = np.concatenate(planes).astype(np.int64)[order]
    labels = {"shadow": np.concatenate(shadows).astype(np.int64)[order]}
    if split != "others":
        labels = {"plane": plane_labels, **labels}
    return LabelledImages(
        images=np.concatenate(images)[order],
        labels=labels,
        class_names={task: CLASS_NAMES[task] for task in labels},
        groups=np.concatenate(groups)[order],
    )


def make_us_sim_splits(
    image_size: tuple[int, int] = DEFAULT_IMAGE_SIZE,
    scale: float = DEFAULT_SCALE,
    seed: int = 0,
    splits: Iterable[str] = SPLITS,
    shadow_salience: float = DEFAULT_SHADOW_SALIENCE,
) -> dict[str, LabelledImages]:
    """Generate several splits; ``result[name] == make_us_sim_split(name, ...)``.

    Args:
        image_size: ``(height, width)`` in pixels, each at least 16.
        scale: fraction of the paper's group sizes.
        seed: non-negative integer seed shared by all splits.
        splits: names of the splits to generate, each one of ``SPLITS``.
        shadow_salience: how conspicuous the labelled shadows are, in (0, 4]
            (``make_us_sim_split``); 1 (default) is the calibrated simulator.

    Returns:
        A dict from split name to its ``LabelledImages``, in the order of ``splits``.

    Raises:
        ValueError: if an argument is invalid; all are checked before any image is
            generated.

    Example:
        >>> data = make_us_sim_splits(scale=0.02, splits=("train", "val"))
        >>> {name: len(images) for name, images in data.items()}
        {'train': 31, 'val': 5}
    """
    splits = check_split_request(splits, SPLITS, image_size, seed)
    _check_scale(scale)
    check_shadow_salience(shadow_salience)
    return {split: make_us_sim_split(split, image_size, scale, seed, shadow_salience) for split in splits}


def load_us_sim(image_size=DEFAULT_IMAGE_SIZE, seed: int = 0, scale: float = DEFAULT_SCALE,
                shadow_salience: float = DEFAULT_SHADOW_SALIENCE):
    """The simulated fetal ultrasound data set, ready for training.

    Tasks follow the paper's heads: the plane classifier has three dense layers
    (two hidden layers of 256 units), the shadow classifier two (one hidden layer).

    Args:
        image_size: ``(height, width)`` in pixels, each at least 16.
        seed: non-negative integer.
        scale: fraction of the paper's group sizes.
        shadow_salience: how conspicuous the labelled shadows are, in (0, 4]
            (``make_us_sim_split``); 1 (default) is the calibrated simulator.

    Returns:
        A ``DatasetSplits`` training on ``"train"``, validating on ``"val"`` and
        evaluating ``"val"``, ``"test_seen"``, ``"lvot_with_shadow"`` and
        ``"others"`` (the last with the shadow label only); ``"oracle"`` is left out
        (the oracle row of the reproduce command generates it).
    """
    from ..registry import DatasetSplits  # the registry imports this package

    splits = make_us_sim_splits(tuple(image_size), scale=scale, seed=seed, splits=("train", *_EVALUATED),
                                shadow_salience=shadow_salience)
    tasks = [
        TaskSpec("plane", 3, head_units=(256, 256), class_names=CLASS_NAMES["plane"]),
        TaskSpec("shadow", 2, head_units=(256,), class_names=CLASS_NAMES["shadow"]),
    ]
    return DatasetSplits(
        tasks=tasks,
        train=splits["train"],
        validation=splits["val"],
        evaluation={name: splits[name] for name in _EVALUATED},
    )
