"""Tests for the simulated fetal ultrasound data set (Experiment 2 of Meng et al., 2019)."""

from __future__ import annotations

import collections

import numpy as np
import pytest

from disentangle_tf.data import ultrasound_sim as us
from disentangle_tf.data.labelled_images import LabelledImages
from disentangle_tf.data.dataset_splits import DatasetSplits
from disentangle_tf.data.us_sim.geometry import Geometry

SCALE = 0.02


@pytest.fixture(scope="module")
def splits() -> dict[str, LabelledImages]:
    return us.make_us_sim_splits(scale=SCALE, seed=0)


def test_constants_and_table_1_counts():
    assert us.TASKS == ("plane", "shadow")
    assert us.CLASS_NAMES == {"plane": ("3VV", "LVOT", "Abd"), "shadow": ("without", "with")}
    assert us.SPLITS == ("train", "val", "test_seen", "lvot_with_shadow", "others", "oracle")
    table_1 = {  # (3VV w/o, w), (LVOT w/o, w), (Abd w/o, w), (Others w/o, w)
        "train": (180, 320, 500, 0, 125, 375, 0, 0),
        "val": (50, 50, 50, 0, 50, 50, 0, 0),
        "test_seen": (334, 41, 79, 0, 190, 220, 0, 0),
        "lvot_with_shadow": (0, 0, 0, 418, 0, 0, 0, 0),
        "others": (0, 0, 0, 0, 0, 0, 3159, 2211),
    }
    groups = ("3VV-without", "3VV-with", "LVOT-without", "LVOT-with",
              "Abd-without", "Abd-with", "Others-without", "Others-with")
    assert us.GROUPS == groups
    for split, counts in table_1.items():
        assert us.SPLIT_COUNTS[split] == dict(zip(groups, counts))
    assert us.split_counts(1.0) == us.SPLIT_COUNTS
    for split in ("train", "val"):
        assert us.SPLIT_COUNTS[split]["LVOT-with"] == 0
    # The oracle's split: LVOT with a shadow only, a sixth of the training LVOT images, as
    # the synthetic shapes' (100 of 600 circles) and the digits' (28 of 164 threes).
    assert us.SPLIT_COUNTS["oracle"] == dict(zip(groups, (0, 0, 0, 83, 0, 0, 0, 0)))
    assert round(us.SPLIT_COUNTS["train"]["LVOT-without"] / 6) == 83


def test_scaled_counts_round_and_keep_every_group():
    counts = us.split_counts(0.02)
    assert counts["test_seen"]["3VV-with"] == 1  # 0.82 -> 1
    assert counts["test_seen"]["LVOT-without"] == 2  # 1.58 -> 2
    assert counts["train"]["Abd-without"] == 3  # 2.5 -> 3 (halves round up)
    assert counts["train"]["LVOT-with"] == 0
    tiny = us.split_counts(1e-6)
    for split, groups in us.SPLIT_COUNTS.items():
        for group, count in groups.items():
            assert tiny[split][group] == (1 if count else 0)
    assert sum(us.split_counts(0.5)["train"].values()) == 751


@pytest.mark.parametrize("split", us.SPLITS)
def test_group_counts_labels_and_types(splits, split):
    data = splits[split]
    expected = {g: c for g, c in us.split_counts(SCALE)[split].items() if c}
    assert dict(collections.Counter(data.groups.tolist())) == expected
    assert data.images.shape == (sum(expected.values()), 48, 60, 1)
    assert data.images.dtype == np.float32
    tasks = ("shadow",) if split == "others" else ("plane", "shadow")
    assert tuple(sorted(data.labels)) == tuple(sorted(tasks))
    assert dict(data.class_names) == {task: us.CLASS_NAMES[task] for task in tasks}
    for task, values in data.labels.items():
        assert values.dtype == np.int64
        names = us.CLASS_NAMES[task]
        index = 0 if task == "plane" else 1
        assert [names[v] for v in values] == [g.split("-")[index] for g in data.groups]


def test_lvot_never_shadowed_in_training_or_validation(splits):
    for split in ("train", "val"):
        labels = splits[split].labels
        assert not np.any((labels["plane"] == 1) & (labels["shadow"] == 1))
    lvot = splits["lvot_with_shadow"].labels
    assert np.all(lvot["plane"] == 1) and np.all(lvot["shadow"] == 1)


def test_deterministic_for_a_seed_and_different_across_seeds():
    first = us.make_us_sim_split("val", scale=SCALE, seed=3)
    again = us.make_us_sim_split("val", scale=SCALE, seed=3)
    other = us.make_us_sim_split("val", scale=SCALE, seed=4)
    np.testing.assert_array_equal(first.images, again.images)
    np.testing.assert_array_equal(first.groups, again.groups)
    assert not np.array_equal(first.images, other.images)


def test_each_image_is_z_scored(splits):
    images = splits["train"].images
    assert np.isfinite(images).all()
    np.testing.assert_allclose(images.mean(axis=(1, 2, 3)), 0.0, atol=1e-4)
    np.testing.assert_allclose(images.std(axis=(1, 2, 3)), 1.0, atol=1e-3)


def test_pixels_outside_the_fan_are_constant_and_darkest(splits):
    mask = us.fan_mask((48, 60))
    assert not mask[0, 0] and not mask[-1, 0] and mask[24, 30]
    images = splits["others"].images[..., 0]
    outside = images[:, ~mask]
    np.testing.assert_array_equal(outside, outside[:, :1].repeat(outside.shape[1], axis=1))
    assert np.all(outside[:, 0] <= images.min(axis=(1, 2)))


def test_a_shadow_darkens_the_sector_behind_its_reflector():
    raw, factor = us.render_raw("3VV", True, 6, seed=0)
    clear, same_factor = us.render_raw("3VV", True, 6, seed=0, cast_shadows=False)
    np.testing.assert_array_equal(factor, same_factor)
    fan = us.fan_mask((48, 60))
    labelled = us.APPEARANCE.shadow_with[1]
    for k in range(6):
        shadow = (factor[k] <= labelled) & fan
        assert shadow.sum() >= 10
        assert raw[k][shadow].mean() < clear[k][shadow].mean() - 0.1
        unshadowed = factor[k] == 1.0
        np.testing.assert_array_equal(raw[k][unshadowed], clear[k][unshadowed])

    # The shadow is a radial sector: deeper along the same beam stays in shadow.
    geometry = Geometry(48, 60)
    for k in range(6):
        core = np.argwhere((factor[k] <= labelled) & fan)
        y, x = core[np.argmin(geometry.radius[tuple(core.T)])]
        angle, radius = geometry.angle[y, x], geometry.radius[y, x]
        for deeper in np.linspace(radius + 2, geometry.far - 1, 5):
            py, px = geometry.polar_to_pixel(deeper, angle)
            assert factor[k][int(round(py)), int(round(px))] < 0.9


def test_labelled_shadows_are_deeper_than_the_faint_shadows_behind_bone():
    _, with_factor = us.render_raw("Abd", True, 40, seed=1)
    _, without_factor = us.render_raw("Abd", False, 40, seed=1)
    darkest_with = with_factor.min(axis=(1, 2))
    darkest_without = without_factor.min(axis=(1, 2))
    # Every labelled image has a shadow core of at most shadow_with[1] (0.6).
    assert np.all(darkest_with <= us.APPEARANCE.shadow_with[1] + 1e-6)
    assert np.all(darkest_with > 0.0)
    # Shadow-free images have only faint shadows, darker than 0.6 only where several overlap.
    assert np.all(darkest_without < 1.0)  # bone is present and attenuates a little
    assert np.median(darkest_without) >= us.APPEARANCE.shadow_without[0] ** 2
    assert np.mean(darkest_without <= us.APPEARANCE.shadow_with[1]) < 0.2


def _balanced_accuracy(truth: np.ndarray, predicted: np.ndarray) -> float:
    return float(np.mean([(predicted[truth == c] == c).mean() for c in np.unique(truth)]))


def test_tasks_are_learnable_from_pixels():
    from sklearn.neighbors import NearestCentroid

    data = us.make_us_sim_splits(scale=0.2, seed=1, splits=("train", "test_seen"))
    train, test = data["train"], data["test_seen"]

    # Plane: anatomy moves and turns, so use a translation-invariant description of
    # each image, the magnitude of its Fourier transform (chance: 1/3).
    def spectrum(images):
        return np.log1p(np.abs(np.fft.rfft2(images[..., 0]))).reshape(len(images), -1)

    model = NearestCentroid().fit(spectrum(train.images), train.labels["plane"])
    plane = _balanced_accuracy(test.labels["plane"], model.predict(spectrum(test.images)))
    assert plane > 0.45, plane  # the planes share structures: far from 1, but above chance

    # Shadow: a dark radial band, wherever it is. Describe each image by its beams'
    # mean brightness, sorted (so the description does not depend on where the
    # shadow falls; chance: 1/2).
    geometry = Geometry(48, 60)
    beam = np.digitize(geometry.angle, np.linspace(-geometry.half_angle, geometry.half_angle, 25)) - 1
    inside = geometry.fan & (geometry.radius > 0.3 * geometry.unit)

    def beams(images):
        pixels = images[:, inside, 0]
        sums = np.stack([pixels[:, beam[inside] == k].mean(axis=1) for k in range(24)], axis=1)
        return np.sort(sums, axis=1)

    model = NearestCentroid().fit(beams(train.images), train.labels["shadow"])
    shadow = _balanced_accuracy(test.labels["shadow"], model.predict(beams(test.images)))
    assert shadow > 0.6, shadow


def test_paper_image_size_is_supported():
    data = us.make_us_sim_split("lvot_with_shadow", image_size=(224, 288), scale=0.005)
    assert data.images.shape == (2, 224, 288, 1)
    assert np.isfinite(data.images).all()


def test_load_us_sim_builds_the_protocol():
    data = us.load_us_sim((32, 40), seed=0, scale=0.01)
    assert isinstance(data, DatasetSplits)
    assert [(t.name, t.num_classes, t.head_units) for t in data.tasks] == [
        ("plane", 3, (256, 256)),
        ("shadow", 2, (256,)),
    ]
    assert data.tasks[0].class_names == ("3VV", "LVOT", "Abd")
    assert tuple(data.evaluation) == ("val", "test_seen", "lvot_with_shadow", "others")
    assert data.validation is data.evaluation["val"]
    assert data.train.image_shape == (32, 40, 1)
    assert set(data.evaluation["others"].labels) == {"shadow"}


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(split="test"), "unknown split"),
        (dict(split="val", scale=0), "scale"),
        (dict(split="val", scale=float("nan")), "scale"),
        (dict(split="val", image_size=(8, 60)), "image_size"),
        (dict(split="val", seed=-1), "seed"),
    ],
)
def test_invalid_arguments_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        us.make_us_sim_split(**kwargs)


# The split as generated before the data set had an oracle split, computed here from the
# simulator's parts: Table 1's counts scaled (halves rounded up), one random stream per
# split (its index among these five) and group, a seeded order.
_TABLE_1 = {
    "train": (180, 320, 500, 0, 125, 375, 0, 0),
    "val": (50, 50, 50, 0, 50, 50, 0, 0),
    "test_seen": (334, 41, 79, 0, 190, 220, 0, 0),
    "lvot_with_shadow": (0, 0, 0, 418, 0, 0, 0, 0),
    "others": (0, 0, 0, 0, 0, 0, 3159, 2211),
}


def _table_1_split(split, image_size, scale, seed, salience):
    from disentangle_tf.data.normalization import standardize_per_image
    from disentangle_tf.data.us_sim.scene import render_group

    split_index = list(_TABLE_1).index(split)
    groups = [f"{plane}-{shadow}" for plane in ("3VV", "LVOT", "Abd", "Others") for shadow in ("without", "with")]
    images, planes, shadows, names = [], [], [], []
    for group_index, (group, count) in enumerate(zip(groups, _TABLE_1[split])):
        if count == 0:
            continue
        count = max(1, int(np.floor(count * scale + 0.5)))
        plane, shadow = group.split("-")
        rng = np.random.default_rng([seed, split_index, group_index])
        raw, _, _ = render_group(rng, Geometry(*image_size), plane, shadow == "with", count, salience=salience)
        images.append(standardize_per_image(raw[..., None]))
        planes += [("3VV", "LVOT", "Abd", "Others").index(plane)] * count
        shadows += [int(shadow == "with")] * count
        names += [group] * count
    order = np.random.default_rng([seed, split_index, len(groups)]).permutation(len(names))
    labels = {"shadow": np.array(shadows, np.int64)[order]}
    if split != "others":
        labels["plane"] = np.array(planes, np.int64)[order]
    return np.concatenate(images)[order], labels, np.array(names)[order]


@pytest.mark.parametrize("seed, image_size, scale, salience", [(0, (32, 40), 0.05, 1.0), (3, (16, 20), 0.1, 2.5)])
def test_the_table_1_splits_are_those_generated_before_the_oracle_split(seed, image_size, scale, salience):
    together = us.make_us_sim_splits(image_size, scale=scale, seed=seed, shadow_salience=salience)
    assert list(together) == list(us.SPLITS)
    loaded = us.load_us_sim(image_size, seed=seed, scale=scale, shadow_salience=salience)
    assert "oracle" not in loaded.evaluation
    for split in _TABLE_1:
        images, labels, groups = _table_1_split(split, image_size, scale, seed, salience)
        alone = us.make_us_sim_split(split, image_size, scale=scale, seed=seed, shadow_salience=salience)
        run_split = loaded.train if split == "train" else loaded.evaluation[split]
        for data in (alone, together[split], run_split):
            assert data.images.dtype == images.dtype and data.images.tobytes() == images.tobytes()
            np.testing.assert_array_equal(data.groups, groups)
            assert data.labels.keys() == labels.keys()
            for task, values in labels.items():
                assert data.labels[task].tobytes() == values.tobytes()


def test_the_oracle_split_is_more_lvot_with_shadow_in_no_other_split():
    size, scale, seed = (32, 40), 0.05, 2
    data = us.make_us_sim_splits(size, scale=scale, seed=seed)
    oracle = data["oracle"]
    assert len(oracle) == us.split_counts(scale)["oracle"]["LVOT-with"] == 4
    assert set(oracle.groups.tolist()) == {"LVOT-with"}
    assert oracle.labels["plane"].tolist() == [1] * 4 and oracle.labels["shadow"].tolist() == [1] * 4
    assert dict(oracle.class_names) == dict(us.CLASS_NAMES)
    others = {image.tobytes() for split in us.SPLITS if split != "oracle" for image in data[split].images}
    assert len({image.tobytes() for image in oracle.images}) == 4
    assert not any(image.tobytes() in others for image in oracle.images)
    # Deterministic per seed, and at a salience the same scenes with deeper shadows.
    again = us.make_us_sim_split("oracle", size, scale=scale, seed=seed)
    assert again.images.tobytes() == oracle.images.tobytes()
    salient = us.make_us_sim_split("oracle", size, scale=scale, seed=seed, shadow_salience=3.0)
    np.testing.assert_array_equal(salient.labels["plane"], oracle.labels["plane"])
    assert not np.array_equal(salient.images, oracle.images)


def test_unknown_plane_raises():
    with pytest.raises(ValueError, match="unknown plane"):
        us.render_raw("4CH", False, 1)


def test_full_table_1_set_renders_quickly_with_the_paper_counts():
    import time

    started = time.perf_counter()
    data = us.make_us_sim_splits(scale=1.0, seed=0)
    seconds = time.perf_counter() - started
    assert seconds < 90, seconds  # a few seconds alone; generous for a busy machine
    for split, counts in us.SPLIT_COUNTS.items():
        expected = {group: count for group, count in counts.items() if count}
        assert dict(collections.Counter(data[split].groups.tolist())) == expected
        assert data[split].images.shape[1:] == (48, 60, 1)
    assert len(data["train"]) == 1500 and len(data["others"]) == 5370


def test_render_raw_is_deterministic_per_seed():
    first, first_factor = us.render_raw("LVOT", True, 3, (32, 40), seed=7)
    again, again_factor = us.render_raw("LVOT", True, 3, (32, 40), seed=7)
    other, _ = us.render_raw("LVOT", True, 3, (32, 40), seed=8)
    np.testing.assert_array_equal(first, again)
    np.testing.assert_array_equal(first_factor, again_factor)
    assert not np.array_equal(first, other)
    both = us.make_us_sim_splits((32, 40), scale=SCALE, seed=5, splits=("val", "others"))
    alone = us.make_us_sim_split("others", (32, 40), scale=SCALE, seed=5)
    np.testing.assert_array_equal(both["others"].images, alone.images)


def test_cardiac_planes_share_structures_at_the_same_scale():
    count = 30
    masks = {plane: us.render_anatomy(plane, False, count, seed=2) for plane in ("3VV", "LVOT", "Abd")}

    def area(plane, kind):
        return masks[plane][kind].sum(axis=(1, 2)) if kind in masks[plane] else np.zeros(count)

    # Every 3VV and LVOT image has a heart and vessel cross-sections; no Abd image has a heart.
    for plane in ("3VV", "LVOT"):
        assert np.all(area(plane, "heart") > 10) and np.all(area(plane, "vessel") > 3)
    assert np.all(area("Abd", "heart") == 0) and np.all(area("Abd", "stomach") > 5)
    # At the same scale: trunks of the same size; the 3VV's heart, cut above the
    # ventricles, smaller than the LVOT's but of the same order.
    body = np.median(area("3VV", "body")) / np.median(area("LVOT", "body"))
    heart = np.median(area("3VV", "heart")) / np.median(area("LVOT", "heart"))
    assert 0.8 < body < 1.25 and 0.2 < heart < 1.0, (body, heart)
    # What tells them apart is subtle: the LVOT's outflow tract, absent from the 3VV.
    assert np.all(area("LVOT", "tract") > 2) and np.all(area("3VV", "tract") == 0)
    # Every plane shows the same trunk: skin outline and bone.
    for plane in masks:
        assert np.all(area(plane, "body") > 20) and np.all(area(plane, "bone") > 3)
