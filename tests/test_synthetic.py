"""Tests for the synthetic shapes data set (Experiment 1 of Meng et al., 2019)."""

from __future__ import annotations

import collections

import numpy as np
import pytest

from disentangle_tf.data.labelled_images import LabelledImages
from disentangle_tf.data.normalization import standardize_per_image
from disentangle_tf.data.synthetic import (
    CLASS_NAMES,
    DEFAULT_IMAGE_SIZE,
    PAPER_IMAGE_SIZE,
    SPLIT_COUNTS,
    SPLITS,
    TASKS,
    make_synthetic_split,
    make_synthetic_splits,
    PAPER_SPLITS,
)

SIZE = (32, 40)
SCALE = min(SIZE[0] / 224, SIZE[1] / 288)


@pytest.fixture(scope="module")
def splits() -> dict[str, LabelledImages]:
    return make_synthetic_splits(image_size=SIZE, seed=0, splits=SPLITS)


def _shape_masks(images: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per image: boolean shape mask (the minority grey level), shape value, background value."""
    planes = images[..., 0]
    low = planes.min(axis=(1, 2))
    high = planes.max(axis=(1, 2))
    is_high = planes == high[:, None, None]
    high_is_shape = is_high.sum(axis=(1, 2)) < planes[0].size / 2
    masks = np.where(high_is_shape[:, None, None], is_high, ~is_high)
    shape_value = np.where(high_is_shape, high, low)
    background_value = np.where(high_is_shape, low, high)
    return masks, shape_value, background_value


def _lattice_disc_count(radius: int) -> int:
    offsets = np.arange(-radius, radius + 1)
    return int((offsets[:, None] ** 2 + offsets[None, :] ** 2 <= radius**2).sum())


def test_constants():
    assert TASKS == ("background", "shape")
    assert CLASS_NAMES == {"background": ("black", "white"), "shape": ("circle", "rectangle")}
    assert SPLITS == ("train", "val", "test", "unseen", "unseen_val", "oracle")
    assert PAPER_SPLITS == SPLITS[:4]
    order = ("circle-white", "rectangle-white", "rectangle-black", "circle-black")
    expected = {
        "train": (600, 100, 500, 0),
        "val": (100, 100, 100, 0),
        "test": (100, 100, 100, 0),
        "unseen": (0, 0, 0, 100),
        "unseen_val": (0, 0, 0, 100),
        "oracle": (0, 0, 0, 100),
    }
    assert {split: tuple(SPLIT_COUNTS[split][g] for g in order) for split in SPLITS} == expected
    assert all(tuple(SPLIT_COUNTS[split]) == order for split in SPLITS)
    assert PAPER_IMAGE_SIZE == (224, 288)
    from disentangle_tf.run.config import DataConfig

    assert DEFAULT_IMAGE_SIZE == DataConfig().image_size


def test_types_and_shapes(splits):
    assert tuple(splits) == SPLITS
    for split, data in splits.items():
        assert isinstance(data, LabelledImages)
        count = sum(SPLIT_COUNTS[split].values())
        assert data.images.shape == (count, *SIZE, 1)
        assert data.images.dtype == np.float32
        assert set(data.labels) == set(TASKS)
        for values in data.labels.values():
            assert values.dtype == np.int64
        assert dict(data.class_names) == CLASS_NAMES
        assert np.isfinite(data.images).all()


@pytest.mark.parametrize("split", SPLITS)
def test_group_counts_per_split(splits, split):
    counts = collections.Counter(splits[split].groups.tolist())
    expected = {group: n for group, n in SPLIT_COUNTS[split].items() if n}
    assert dict(counts) == expected


def test_labels_agree_with_groups(splits):
    for data in splits.values():
        names = [
            f"{CLASS_NAMES['shape'][s]}-{CLASS_NAMES['background'][b]}"
            for s, b in zip(data.labels["shape"], data.labels["background"])
        ]
        assert names == data.groups.tolist()


def test_unseen_is_circles_on_black_and_train_has_none(splits):
    unseen = splits["unseen"]
    assert (unseen.labels["shape"] == 0).all() and (unseen.labels["background"] == 0).all()
    for split in ("train", "val", "test"):
        labels = splits[split].labels
        assert not ((labels["shape"] == 0) & (labels["background"] == 0)).any()
    # Training shortcut: every circle is on white, and shapes are 1:1.
    train = splits["train"].labels
    assert (train["background"][train["shape"] == 0] == 1).all()
    assert (train["shape"] == 0).sum() == (train["shape"] == 1).sum() == 600


def test_order_is_shuffled(splits):
    groups = splits["train"].groups
    # Grouped order would put 600 circle-white images first.
    assert len(set(groups[:100].tolist())) == 3
    assert not (groups[:600] == "circle-white").all()


def test_deterministic_for_a_seed_and_different_across_seeds():
    first = make_synthetic_split("val", image_size=SIZE, seed=3)
    again = make_synthetic_split("val", image_size=SIZE, seed=3)
    other = make_synthetic_split("val", image_size=SIZE, seed=4)
    np.testing.assert_array_equal(first.images, again.images)
    np.testing.assert_array_equal(first.groups, again.groups)
    for task in TASKS:
        np.testing.assert_array_equal(first.labels[task], again.labels[task])
    assert not np.array_equal(first.images, other.images)
    assert not np.array_equal(first.groups, other.groups)


def test_make_synthetic_splits_matches_single_split(splits):
    single = make_synthetic_split("test", image_size=SIZE, seed=0)
    np.testing.assert_array_equal(splits["test"].images, single.images)
    subset = make_synthetic_splits(image_size=SIZE, seed=0, splits=("unseen", "val"))
    assert tuple(subset) == ("unseen", "val")
    np.testing.assert_array_equal(subset["val"].images, splits["val"].images)


def test_each_image_is_z_scored(splits):
    for data in splits.values():
        images = data.images.astype(np.float64)
        np.testing.assert_allclose(images.mean(axis=(1, 2, 3)), 0.0, atol=1e-5)
        np.testing.assert_allclose(images.std(axis=(1, 2, 3)), 1.0, atol=1e-5)


def test_matches_standardizing_the_raw_image(splits):
    data = splits["train"]
    masks, _, _ = _shape_masks(data.images)
    background = np.where(data.labels["background"] == 1, 1.0, 0.0)[:, None, None]
    raw = np.where(masks, 0.5, background).astype(np.float32)[..., None]
    np.testing.assert_allclose(standardize_per_image(raw), data.images, atol=1e-5)


def test_two_grey_levels_with_background_polarity(splits):
    for data in splits.values():
        planes = data.images[..., 0]
        for image in planes[:50]:
            assert len(np.unique(image)) == 2
        masks, shape_value, background_value = _shape_masks(data.images)
        white = data.labels["background"] == 1
        # White (1) background is brighter than the grey (0.5) shape; black (0) is darker.
        assert (background_value[white] > shape_value[white]).all()
        assert (background_value[~white] < shape_value[~white]).all()
        # The shape is present and is the minority grey level.
        assert (masks.sum(axis=(1, 2)) < planes[0].size / 2).all()
        assert (masks.sum(axis=(1, 2)) > 0).all()


def test_shape_geometry(splits):
    data = splits["train"]
    masks, _, _ = _shape_masks(data.images)
    r_min, r_max = max(1, round(10 * SCALE)), round(79 * SCALE)
    d_min, d_max = max(2, round(10 * SCALE)), round(39 * SCALE)
    for mask, shape in zip(masks, data.labels["shape"]):
        rows = np.flatnonzero(mask.any(axis=1))
        cols = np.flatnonzero(mask.any(axis=0))
        box_h = rows[-1] - rows[0] + 1
        box_w = cols[-1] - cols[0] + 1
        area = int(mask.sum())
        if shape == 1:
            # A filled axis-aligned rectangle, 2d rows by 8d columns: area 16 d**2.
            d = box_h // 2
            assert box_h == 2 * d and box_w == 8 * d
            assert area == box_h * box_w == 16 * d * d
            assert d_min <= d <= d_max
        else:
            # A lattice disc of radius r: square odd bounding box, area ~ pi r**2.
            r = (box_h - 1) // 2
            assert box_h == box_w == 2 * r + 1
            assert area == _lattice_disc_count(r)
            assert area < box_h * box_w
            assert r_min <= r <= r_max
            centre = (rows[0] + r, cols[0] + r)
            assert mask[centre]


def test_shapes_fit_at_paper_aspect_and_clip_wide_rectangles():
    # At 56 x 72 the largest rectangles (half-width 4 d = 40) are clipped to the width.
    data = make_synthetic_split("train", image_size=(56, 72), seed=1)
    masks, _, _ = _shape_masks(data.images)
    widths = masks.any(axis=1).sum(axis=1)
    heights = masks.any(axis=2).sum(axis=1)
    rectangles = data.labels["shape"] == 1
    assert widths[rectangles].max() == 72
    assert (widths[rectangles] <= 4 * heights[rectangles]).all()
    assert (masks.sum(axis=(1, 2)) > 0).all()


def test_splits_do_not_share_images(splits):
    seen = {}
    for split in ("train", "val", "test", "unseen"):
        keys = {image.tobytes() for image in splits[split].images}
        for other, other_keys in seen.items():
            assert not keys & other_keys, f"{split} shares images with {other}"
        seen[split] = keys
    assert not np.array_equal(splits["val"].images, splits["test"].images)


def test_unknown_split_raises():
    with pytest.raises(ValueError, match=r"'validation'.*'train', 'val', 'test', 'unseen'"):
        make_synthetic_split("validation", image_size=SIZE)
    with pytest.raises(ValueError, match="'nope'"):
        make_synthetic_splits(image_size=SIZE, splits=("train", "nope"))


@pytest.mark.parametrize("size", [(15, 40), (32, 8), (0, 40), (-32, 40), (32,), (32.0, 40)])
def test_bad_image_size_raises(size):
    with pytest.raises(ValueError, match="image_size: expected"):
        make_synthetic_split("val", image_size=size)


def test_negative_seed_raises():
    with pytest.raises(ValueError, match="seed"):
        make_synthetic_split("val", image_size=SIZE, seed=-1)


def test_standardize_per_image_matches_tf_convention():
    rng = np.random.default_rng(0)
    images = rng.normal(3.0, 2.0, size=(4, 6, 5, 3)).astype(np.float32)
    images[1] = 7.0  # constant image: std floored at 1 / sqrt(H W C)
    out = standardize_per_image(images)
    assert out.dtype == np.float32 and out.shape == images.shape
    x = images.astype(np.float64)
    mean = x.mean(axis=(1, 2, 3), keepdims=True)
    std = np.maximum(x.std(axis=(1, 2, 3), keepdims=True), 1 / np.sqrt(6 * 5 * 3))
    np.testing.assert_allclose(out, (x - mean) / std, atol=1e-5)
    np.testing.assert_array_equal(out[1], 0.0)
    with pytest.raises(ValueError, match=r"\(N, H, W, C\)"):
        standardize_per_image(images[0])


def test_unseen_combination_splits_share_no_image(splits):
    """The oracle's training images and the oracle-selection set never hold an unseen test image."""
    seen = {}
    for name in ("unseen", "unseen_val", "oracle"):
        data = splits[name]
        assert set(data.groups.tolist()) == {"circle-black"}
        for image in data.images:
            key = image.tobytes()
            assert seen.setdefault(key, name) == name, f"an image of {name} is also in {seen[key]}"
    assert len(seen) > 250  # small images can repeat within a split, not across splits
