"""The digits data sets: real handwritten digits with a shadow or a photograph behind them."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import ndimage
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from disentangle_tf.data.digits import (CLASS_NAMES, MISSING_COMBINATION, SPLITS, VARIANTS, load_digits_dataset,
                                        make_digits_split, make_digits_splits, render_digits)

SIZE = (20, 20)
SEEN = ("train", "val", "test")
UNSEEN = ("unseen", "unseen_val", "oracle")


@pytest.fixture(scope="module", params=list(VARIANTS))
def variant(request):
    return request.param


@pytest.fixture(scope="module")
def splits(variant):
    """Every split with the source image of every image."""
    return {split: make_digits_split(variant, split, SIZE, seed=0, return_sources=True) for split in SPLITS}


def combinations(data, variant):
    nuisance = VARIANTS[variant]
    return set(zip(data.labels["digit"].tolist(), data.labels[nuisance].tolist()))


def test_images_are_z_scored_float32_with_int64_labels_and_groups(splits, variant):
    nuisance = VARIANTS[variant]
    for split, (data, sources) in splits.items():
        assert data.images.dtype == np.float32 and data.images.shape[1:] == (*SIZE, 1), split
        assert np.allclose(data.images.mean(axis=(1, 2, 3)), 0, atol=1e-4)
        assert np.allclose(data.images.std(axis=(1, 2, 3)), 1, atol=1e-3)
        assert set(data.labels) == {"digit", nuisance}
        assert all(values.dtype == np.int64 for values in data.labels.values())
        names = CLASS_NAMES[variant]
        expected = [f"{names['digit'][d]}-{names[nuisance][n]}"
                    for d, n in zip(data.labels["digit"], data.labels[nuisance])]
        assert data.groups.tolist() == expected
        assert sources.shape == (len(data),) and sources.dtype == np.int64


def test_the_digit_label_is_the_source_images_digit(splits):
    target = load_digits().target
    first_five = np.flatnonzero(target < 5)  # the sources index the digits 0-4 in their order
    for data, sources in splits.values():
        assert np.array_equal(target[first_five[sources]], data.labels["digit"])


def test_the_missing_combination_is_only_in_the_unseen_splits(splits, variant):
    digit, nuisance_class = MISSING_COMBINATION[variant]
    missing = (int(digit), CLASS_NAMES[variant][VARIANTS[variant]].index(nuisance_class))
    assert missing == (3, 1)
    for split in SEEN:
        assert missing not in combinations(splits[split][0], variant), split
    for split in UNSEEN:
        assert combinations(splits[split][0], variant) == {missing}, split
    every_other = set(itertools.product(range(5), range(2))) - {missing}
    assert combinations(splits["train"][0], variant) == every_other


def test_no_source_image_is_in_two_splits(splits):
    used = {split: set(sources.tolist()) for split, (_, sources) in splits.items()}
    for first, second in itertools.combinations(SPLITS, 2):
        assert not used[first] & used[second], (first, second)
    # Each source is rendered twice, and the training split has about a thousand images.
    for data, sources in splits.values():
        assert np.all(np.bincount(sources)[sorted(set(sources.tolist()))] == 2)
    assert 900 <= len(splits["train"][0]) <= 1100


def test_the_other_digits_have_the_nuisance_about_half_the_time(splits, variant):
    data = splits["train"][0]
    others = data.labels["digit"] != 3
    share = data.labels[VARIANTS[variant]][others].mean()
    assert 0.4 < share < 0.6


def test_a_seed_gives_the_same_images_and_another_seed_others(variant):
    first = make_digits_split(variant, "val", (16, 16), seed=3)
    again = make_digits_split(variant, "val", (16, 16), seed=3)
    other, other_sources = make_digits_split(variant, "val", (16, 16), seed=4, return_sources=True)
    _, sources = make_digits_split(variant, "val", (16, 16), seed=3, return_sources=True)
    assert np.array_equal(first.images, again.images) and first.groups.tolist() == again.groups.tolist()
    assert set(sources.tolist()) != set(other_sources.tolist())
    assert len(first) != len(other) or not np.allclose(first.images, other.images)


def test_make_digits_splits_matches_one_split_at_a_time():
    together = make_digits_splits("digits-texture", (16, 16), seed=1, copies=1, splits=("oracle", "unseen"))
    assert list(together) == ["oracle", "unseen"]
    alone = make_digits_split("digits-texture", "unseen", (16, 16), seed=1, copies=1)
    assert np.array_equal(together["unseen"].images, alone.images)
    assert len(alone) == 28  # one rendering of each source: half the default


def test_a_shadow_is_a_dark_band_from_the_top_edge():
    _, sources = make_digits_split("digits-shadow", "unseen", (24, 24), seed=0, return_sources=True)
    without = render_digits("digits-shadow", sources, np.zeros_like(sources), (24, 24), seed=5)
    shadowed = render_digits("digits-shadow", sources, np.ones_like(sources), (24, 24), seed=5)
    ratio = shadowed / without
    assert ratio.max() <= 1 + 1e-6  # the same scene, only darkened
    dark = ratio < 0.5
    area = dark.mean(axis=(1, 2))
    assert np.all((area > 0.1) & (area < 0.7)), area  # a band, not the whole image
    assert dark[:, 0].any(axis=1).all()  # every band starts at the top edge
    assert (dark.any(axis=2).mean(axis=1) >= 0.5).all()  # and runs down at least half the image
    assert 0.15 < ratio.min() and np.median(ratio.min(axis=(1, 2))) < 0.5


def test_shadowed_images_have_a_darker_region_after_z_scoring():
    data = make_digits_split("digits-shadow", "train", SIZE, seed=2)
    window = SIZE[1] // 4
    darkest = ndimage.uniform_filter(data.images[..., 0], (1, window, window), mode="nearest").min(axis=(1, 2))
    assert roc_auc_score(data.labels["shadow"], -darkest) > 0.85


def test_the_textures_differ_in_their_dark_pixels_and_keep_the_digit():
    data = make_digits_split("digits-texture", "train", SIZE, seed=2)
    dark_share = (data.images[..., 0] < -1).mean(axis=(1, 2))
    auc = roc_auc_score(data.labels["texture"], dark_share)
    assert max(auc, 1 - auc) > 0.85
    _, sources = make_digits_split("digits-texture", "oracle", (24, 24), seed=0, return_sources=True)
    china = render_digits("digits-texture", sources, np.zeros_like(sources), (24, 24), seed=0)
    flower = render_digits("digits-texture", sources, np.ones_like(sources), (24, 24), seed=0)
    assert china.max() <= 1 + 1e-6 and china.min() >= 0
    # The photographs are at most 0.5: anything brighter is the digit, on both.
    strokes = (china > 0.6) & (flower > 0.6)
    assert (strokes.mean(axis=(1, 2)) > 0.03).all()
    background = (china < 0.5) & (flower < 0.5)
    assert np.abs(china - flower)[background].mean() > 0.05


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_the_digits_stay_readable(variant):
    data = make_digits_splits(variant, (16, 16), seed=0, splits=("train", "test"))
    # 2 x 2 average pooling: 64 features, so that a linear classifier fits in a moment.
    pooled = {name: split.images[..., 0].reshape(len(split), 8, 2, 8, 2).mean(axis=(2, 4)).reshape(len(split), -1)
              for name, split in data.items()}
    model = LogisticRegression(max_iter=300).fit(pooled["train"], data["train"].labels["digit"])
    assert model.score(pooled["test"], data["test"].labels["digit"]) > 0.4  # chance: 0.2


@pytest.mark.parametrize("call, fragment", [
    (lambda: make_digits_split("digits", "train"), "unknown variant 'digits'"),
    (lambda: make_digits_split(["digits-shadow"], "train"), "unknown variant ['digits-shadow']"),
    (lambda: make_digits_split("digits-shadow", "training"), "unknown split 'training'"),
    (lambda: make_digits_split("digits-shadow", "train", (8, 16)), "image_size: expected"),
    (lambda: make_digits_split("digits-shadow", "train", seed=-1), "seed: expected"),
    (lambda: make_digits_split("digits-shadow", "train", copies=0), "copies: expected an integer >= 1"),
    (lambda: make_digits_splits("digits-texture", splits=("train", "nope")), "unknown split 'nope'"),
    (lambda: make_digits_splits("digits-texture", copies=1.5), "copies: expected"),
    (lambda: load_digits_dataset("digits-texture", image_size=16), "image_size: expected"),
    (lambda: render_digits("digits-shadow", np.array([0, 1]), np.array([0, 2])), "nuisance: expected"),
    (lambda: render_digits("digits-shadow", np.array([10**6]), np.array([0])), "sources: expected"),
])
def test_bad_arguments_give_one_line(call, fragment):
    with pytest.raises(ValueError) as error:
        call()
    message = str(error.value)
    assert fragment in message and "\n" not in message, message


def test_the_loader_gives_the_tasks_and_splits():
    from disentangle_tf.run.config import DataConfig
    from disentangle_tf.run.datasets import load_dataset

    data = load_dataset(DataConfig(dataset="digits-shadow", image_size=(24, 24)))
    assert [(t.name, t.num_classes, t.class_names) for t in data.tasks] == [
        ("digit", 5, ("0", "1", "2", "3", "4")), ("shadow", 2, ("without", "with"))]
    assert list(data.evaluation) == ["val", "test", "unseen"]
    assert data.train.image_shape == (24, 24, 1)
    assert set(data.evaluation["unseen"].groups.tolist()) == {"3-with"}
    assert data.validation is data.evaluation["val"]


def test_the_loader_refuses_three_channels():
    from disentangle_tf.errors import ConfigError
    from disentangle_tf.run.config import DataConfig
    from disentangle_tf.run.datasets import load_dataset

    with pytest.raises(ConfigError, match="--channels 3: the digits-texture images have 1 channel"):
        load_dataset(DataConfig(dataset="digits-texture", image_size=(16, 16), channels=3))
