"""Checks of the arguments every data generator takes (one-line ValueErrors)."""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

#: Default image size ``(height, width)`` the model sees: a quarter of the paper's
#: 224 x 288 on each side (``docs/method.rst``).
DEFAULT_IMAGE_SIZE: tuple[int, int] = (56, 72)

#: How training batches draw images (:func:`~disentangle_tf.data.pipeline.make_training_dataset`):
#: every image once per epoch, or every combination of task labels equally often.
SAMPLING = ("uniform", "group_balanced")

#: How mixup draws each image's partner (:func:`~disentangle_tf.data.mixing.mix_batch`): any
#: image of the batch, or one that differs from it in every task's label.
MIXUP_PARTNERS = ("any", "other_combination")

#: Smallest image side a generator accepts.
MIN_IMAGE_SIDE = 16


def check_split(split: str, splits: Sequence[str]) -> int:
    """The index of ``split`` in ``splits``; ValueError if it is not one."""
    if split not in splits:
        valid = ", ".join(repr(name) for name in splits)
        raise ValueError(f"unknown split {split!r}; expected one of {valid}")
    return list(splits).index(split)


def check_image_size(image_size: Iterable[int]) -> tuple[int, int]:
    """``image_size`` as ``(height, width)`` ints; ValueError if it is not valid."""
    expected = f"image_size: expected (height, width) as two integers >= {MIN_IMAGE_SIDE}"
    try:
        size = tuple(image_size)
    except TypeError:
        raise ValueError(f"{expected}, got {image_size!r}") from None
    if len(size) != 2 or not all(
        isinstance(side, (int, np.integer)) and not isinstance(side, bool) for side in size
    ):
        raise ValueError(f"{expected}, got {image_size!r}")
    height, width = int(size[0]), int(size[1])
    if height < MIN_IMAGE_SIDE or width < MIN_IMAGE_SIDE:
        raise ValueError(f"{expected}, got ({height}, {width})")
    return height, width


def check_seed(seed: int) -> int:
    """``seed`` as an int; ValueError unless it is a non-negative integer."""
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed: expected a non-negative integer, got {seed!r}")
    return int(seed)


def check_split_request(splits, names: Sequence[str], image_size, seed) -> list[str]:
    """``splits`` (one name or several) as a list, every name, ``image_size`` and
    ``seed`` checked before any image is made; ValueError naming the first bad one."""
    splits = [splits] if isinstance(splits, str) else list(splits)
    for split in splits:
        check_split(split, names)
    check_image_size(image_size)
    check_seed(seed)
    return splits
