"""The shadow salience of the simulated fetal ultrasound (us-sim): 1 leaves the calibrated
images as they are, higher values make the labelled shadows conspicuous (measured on the
images), bad values are refused in one line, and the train and reproduce commands reach it
as the configuration key ``shadow_salience``."""

from __future__ import annotations

import numpy as np
import pytest

from disentangle_tf.data import ultrasound_sim as us
from disentangle_tf.data.us_sim.geometry import Geometry

SIZE = (32, 40)


def test_the_default_salience_is_one_and_changes_nothing():
    assert us.DEFAULT_SHADOW_SALIENCE == 1.0
    plain = us.make_us_sim_splits(SIZE, scale=0.02, seed=3)
    for value in (1.0, 1, np.float32(1.0)):
        explicit = us.make_us_sim_splits(SIZE, scale=0.02, seed=3, shadow_salience=value)
        for split in us.SPLITS:
            np.testing.assert_array_equal(plain[split].images, explicit[split].images)
            np.testing.assert_array_equal(plain[split].groups, explicit[split].groups)
            for task in plain[split].labels:
                np.testing.assert_array_equal(plain[split].labels[task], explicit[split].labels[task])
    raw, factor = us.render_raw("3VV", True, 3, SIZE, seed=4)
    raw_one, factor_one = us.render_raw("3VV", True, 3, SIZE, seed=4, shadow_salience=1.0)
    np.testing.assert_array_equal(raw, raw_one)
    np.testing.assert_array_equal(factor, factor_one)


def test_the_default_images_are_those_of_the_calibrated_simulator():
    # Values of the simulator as calibrated, before it had a shadow salience.
    pinned = {("LVOT", False): (0.3797333118556708, 0.9720675518386998, 0.5580607177893199),
              ("3VV", True): (0.3885217943570751, 0.9394757258938625, 0.5515126466165318),
              ("Abd", True): (0.3969223668105769, 0.9107029671751661, 0.5408250642348051)}
    for (plane, shadow), (raw_mean, factor_mean, raw_std) in pinned.items():
        raw, factor = us.render_raw(plane, shadow, 4, SIZE, seed=11)
        np.testing.assert_allclose([raw.astype(np.float64).mean(), factor.astype(np.float64).mean(),
                                    raw.astype(np.float64).std()], [raw_mean, factor_mean, raw_std], rtol=1e-5)
    data = us.make_us_sim_split("val", SIZE, scale=0.05, seed=2)
    assert data.labels["plane"].tolist() == [2, 0, 0, 0, 0, 2, 0, 2, 1, 2, 2, 1, 2, 1, 0]
    assert data.labels["shadow"].tolist() == [1, 1, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 1, 0, 1]
    np.testing.assert_allclose(np.abs(data.images.astype(np.float64)).mean(), 0.8612717018478494, rtol=1e-5)


def test_salience_changes_the_labelled_shadows_and_nothing_else():
    # Images without a labelled shadow are the same at every salience.
    for plane in ("LVOT", "Abd"):
        np.testing.assert_array_equal(us.render_raw(plane, False, 4, SIZE, seed=5)[0],
                                      us.render_raw(plane, False, 4, SIZE, seed=5, shadow_salience=3.0)[0])
    # With one, only the pixels a labelled shadow covers change (same scenes, same labels).
    raw, factor = us.render_raw("3VV", True, 8, SIZE, seed=5)
    salient, salient_factor = us.render_raw("3VV", True, 8, SIZE, seed=5, shadow_salience=3.0)
    same = factor == salient_factor
    np.testing.assert_array_equal(raw[same], salient[same])
    assert np.all(salient_factor <= factor + 1e-6)  # deeper and wider, never lighter
    assert (~same).sum() > 0.05 * same.size
    default = us.make_us_sim_split("train", SIZE, scale=0.02, seed=1)
    salient_split = us.make_us_sim_split("train", SIZE, scale=0.02, seed=1, shadow_salience=2.0)
    np.testing.assert_array_equal(default.groups, salient_split.groups)
    unshadowed = default.labels["shadow"] == 0
    np.testing.assert_array_equal(default.images[unshadowed], salient_split.images[unshadowed])
    assert not np.array_equal(default.images[~unshadowed], salient_split.images[~unshadowed])


def _shadow_drop(salience: float) -> float:
    """Mean fall in log-brightness, against the same scenes without shadows, over the pixels of
    the labelled shadows' cores at salience 1."""
    _, core_factor = us.render_raw("3VV", True, 20, SIZE, seed=1)
    clear, _ = us.render_raw("3VV", True, 20, SIZE, seed=1, cast_shadows=False)
    raw, _ = us.render_raw("3VV", True, 20, SIZE, seed=1, shadow_salience=salience)
    core = (core_factor <= us.APPEARANCE.shadow_with[1]) & us.fan_mask(SIZE)
    return float((clear[core] - raw[core]).mean())


def test_a_higher_salience_darkens_the_shadow_against_the_unshadowed_scene():
    drops = [_shadow_drop(salience) for salience in (0.5, 1.0, 2.0, 3.0)]
    assert all(later > earlier + 0.05 for earlier, later in zip(drops, drops[1:])), drops
    assert drops[3] > 1.5 * drops[1], drops


def _darkest_beam(images: np.ndarray) -> np.ndarray:
    """How far the darkest beam of each z-scored image lies below its median beam."""
    geometry = Geometry(*SIZE)
    beam = np.digitize(geometry.angle, np.linspace(-geometry.half_angle, geometry.half_angle, 17)) - 1
    inside = geometry.fan & (geometry.radius > 0.3 * geometry.unit)
    pixels = images[:, inside, 0]
    means = np.stack([pixels[:, beam[inside] == k].mean(axis=1) for k in range(16)], axis=1)
    return np.median(means, axis=1) - means.min(axis=1)


def _auc(positive: np.ndarray, scores: np.ndarray) -> float:
    """Probability that a positive image scores above a negative one (ties count half)."""
    above = scores[positive][:, None] - scores[~positive][None, :]
    return float(np.mean(above > 0) + 0.5 * np.mean(above == 0))


def test_a_higher_salience_makes_one_statistic_of_the_image_tell_not_lvot_in_training():
    # The shortcut a plane classifier may take: in training, a shadow means 3VV or Abd.
    # A trivial statistic (the darkest beam's depth) separates shadowed from unshadowed
    # images, and so "not LVOT" from LVOT, better as the salience grows.
    shadow_auc, not_lvot_auc = [], []
    for salience in (1.0, 3.0):
        data = us.make_us_sim_split("train", SIZE, scale=0.1, seed=0, shadow_salience=salience)
        statistic = _darkest_beam(data.images)
        shadow_auc.append(_auc(data.labels["shadow"] == 1, statistic))
        not_lvot_auc.append(_auc(data.labels["plane"] != 1, statistic))
    assert shadow_auc[1] > shadow_auc[0] + 0.1 and shadow_auc[1] > 0.9, shadow_auc
    assert not_lvot_auc[1] > not_lvot_auc[0] + 0.07, not_lvot_auc


@pytest.mark.parametrize("value", [0, 0.0, -1.0, 4.5, float("nan"), float("inf"), "2", None, True])
def test_bad_saliences_are_refused_in_one_line(value):
    for make in (lambda: us.make_us_sim_split("val", SIZE, scale=0.01, shadow_salience=value),
                 lambda: us.make_us_sim_splits(SIZE, scale=0.01, shadow_salience=value),
                 lambda: us.render_raw("LVOT", True, 1, SIZE, shadow_salience=value),
                 lambda: us.load_us_sim(SIZE, scale=0.01, shadow_salience=value)):
        with pytest.raises(ValueError) as info:
            make()
        message = str(info.value)
        assert message.startswith("shadow_salience: expected a number > 0 and <= 4") and "\n" not in message


def test_the_largest_salience_is_accepted():
    data = us.make_us_sim_split("lvot_with_shadow", SIZE, scale=0.01, shadow_salience=us.MAX_SHADOW_SALIENCE)
    assert np.isfinite(data.images).all()


def test_the_configuration_key_reaches_the_generator():
    from disentangle_tf.run.config import RunConfig
    from disentangle_tf.run.datasets import load_dataset

    assert RunConfig().data.shadow_salience == us.DEFAULT_SHADOW_SALIENCE
    config = RunConfig().replace({"dataset": "us-sim", "image_size": [16, 20], "scale": 0.01,
                                  "shadow_salience": 2.5})
    loaded = load_dataset(config.data)
    direct = us.load_us_sim((16, 20), seed=0, scale=0.01, shadow_salience=2.5)
    default = us.load_us_sim((16, 20), seed=0, scale=0.01)
    for name in ("train", "validation"):
        np.testing.assert_array_equal(getattr(loaded, name).images, getattr(direct, name).images)
    assert not np.array_equal(loaded.train.images, default.train.images)


@pytest.mark.parametrize("command, arguments", [
    ("train", ["--dataset", "us-sim", "--output-dir", "out"]),
    ("reproduce", ["us-sim", "--seeds", "1", "--output-dir", "out"]),
])
@pytest.mark.parametrize("text", ["0", "-1", "4.5", ".nan", "high"])
def test_the_commands_refuse_a_bad_salience_in_one_line_with_exit_code_2(command, arguments, text, tmp_path,
                                                                          monkeypatch, capsys):
    import importlib

    from disentangle_tf.cli.common import run_command

    monkeypatch.chdir(tmp_path)
    module = importlib.import_module(f"disentangle_tf.cli.{command}")
    with pytest.raises(SystemExit) as exit_info:
        run_command(module.main, [*arguments, "--set", f"shadow_salience={text}"], prog_name=command)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("Error: ") and "shadow_salience" in err and err.count("\n") == 1, err
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("command, arguments", [
    ("train", ["--dataset", "us-sim", "--output-dir", "out"]),
    ("reproduce", ["us-sim", "--seeds", "1", "--output-dir", "out"]),
])
def test_the_commands_take_the_salience_with_set_and_from_a_config_file(command, arguments, tmp_path, monkeypatch,
                                                                         capsys):
    from conftest import resolve_cli

    monkeypatch.chdir(tmp_path)
    (tmp_path / "salient.yaml").write_text("shadow_salience: 3\n")
    for extra, expected in ((["--set", "shadow_salience=2"], 2.0), (["--config", "salient.yaml"], 3.0), ([], 1.0)):
        code, err, config = resolve_cli(f"disentangle_tf.cli.{command}", [*arguments, *extra], capsys, monkeypatch,
                                        prog_name=command)
        assert code == 0 and config is not None, err
        assert config.data.shadow_salience == expected


def test_the_run_summary_names_a_salience_other_than_the_default():
    from disentangle_tf.run.config import RunConfig
    from disentangle_tf.run.console import config_summary

    flat = RunConfig().replace({"dataset": "us-sim", "shadow_salience": 2.5}).to_flat_dict()
    assert "shadow salience 2.5" in " ".join(config_summary(flat, "recommended", "runs/x"))
    flat["shadow_salience"] = 1.0
    assert "salience" not in " ".join(config_summary(flat, "recommended", "runs/x"))
