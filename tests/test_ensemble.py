"""Deep ensembles: the members' probabilities averaged, each member a run of its own seed
on the same data, saved, exported and resumed as one model."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
from scipy.special import softmax

from conftest import build_random_data, build_tiny_model
from test_fault_tolerance import TINY, tiny_splits

from disentangle_tf.models.ensemble import DisentanglerEnsemble


def _members():
    return [build_tiny_model(seed=seed) for seed in (1, 2, 3)]


def test_the_ensemble_predicts_the_mean_of_its_members_probabilities():
    members = _members()
    images = build_random_data(count=6).images
    ensemble = DisentanglerEnsemble(members)
    logits, features = ensemble(images, return_features=True)
    for task in ("a", "b"):
        by_hand = np.mean([softmax(np.asarray(m(images)[task]), axis=-1) for m in members], axis=0)
        np.testing.assert_allclose(softmax(np.asarray(logits[task]), axis=-1), by_hand, atol=1e-6)
        np.testing.assert_allclose(np.asarray(ensemble.predict_probabilities(images)[task]), by_hand, atol=1e-6)
        joined = np.concatenate([np.asarray(m(images, return_features=True)[1][task]) for m in members], axis=-1)
        np.testing.assert_allclose(np.asarray(features[task]), joined, atol=1e-6)
    _, _, adversary = ensemble.forward_pass(images, training=False)
    for p in range(len(ensemble.adversary_pairs)):
        by_hand = np.mean([softmax(np.asarray(m.forward_pass(images, training=False)[2][p]), axis=-1)
                           for m in members], axis=0)
        np.testing.assert_allclose(softmax(np.asarray(adversary[p]), axis=-1), by_hand, atol=1e-6)


def test_members_of_other_tasks_or_shapes_are_refused():
    with pytest.raises(ValueError, match="at least one"):
        DisentanglerEnsemble([])
    with pytest.raises(ValueError, match=r"members\[1\]"):
        DisentanglerEnsemble([build_tiny_model(), build_tiny_model(tasks=("a", "c"))])
    with pytest.raises(ValueError, match=r"members\[1\]"):
        DisentanglerEnsemble([build_tiny_model(), build_tiny_model(image_shape=(16, 20, 1))])


def test_the_ensemble_saves_loads_and_exports_with_the_same_predictions(tmp_path):
    from disentangle_tf.export import load_exported_model, export_saved_model

    members = _members()
    images = build_random_data(count=5).images
    ensemble = DisentanglerEnsemble(members)
    expected = {t: np.asarray(v) for t, v in ensemble.predict_probabilities(images).items()}
    ensemble.save(tmp_path / "ensemble.keras")
    loaded = keras.saving.load_model(tmp_path / "ensemble.keras")
    assert isinstance(loaded, DisentanglerEnsemble) and len(loaded.members) == 3
    for task, value in loaded.predict_probabilities(images).items():
        np.testing.assert_allclose(np.asarray(value), expected[task], atol=1e-6)
    export_saved_model(ensemble, tmp_path / "saved_model")
    served = load_exported_model(tmp_path / "saved_model")
    outputs = served(images)
    for task in ("a", "b"):
        np.testing.assert_allclose(outputs[f"{task}_probabilities"], expected[task], atol=1e-5)
        assert outputs[f"{task}_features"].shape[1] == 3 * members[0](images, return_features=True)[1][task].shape[1]


def _config(**settings):
    from disentangle_tf.run.config import RunConfig

    return RunConfig().replace({**TINY, "epochs": 2, "precise_batch_norm": 2, **settings})


@pytest.fixture(scope="module")
def single_run():
    """The single run of :func:`_config` (deterministic, seed 5) on the tiny splits: what
    member 0 of an ensemble trains and member 1 must not."""
    from disentangle_tf.run.training import run

    return run(_config(deterministic=True), data=tiny_splits(), verbose=0)


# The tests of the module's runs go to one worker, which trains each once.
ENSEMBLE_RUN = pytest.mark.xdist_group("ensemble_run")


@ENSEMBLE_RUN
def test_a_member_trains_as_a_run_of_seed_plus_100_on_the_same_data(single_run):
    from disentangle_tf.run.training import run

    data = tiny_splits()
    member = run(_config(ensemble_member=1), data=data, verbose=0).model
    shifted = run(_config(seed=TINY["seed"] + 100), data=data, verbose=0).model
    first = single_run.model
    for a, b in zip(member.get_weights(), shifted.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, b) for a, b in zip(member.get_weights(), first.get_weights()))


@pytest.fixture(scope="module")
def ensemble_run(tmp_path_factory):
    """A deterministic run of an ensemble of two on the tiny splits: ``(directory, RunResult)``."""
    from disentangle_tf.run.training import run

    out = tmp_path_factory.mktemp("ensemble") / "run"
    return out, run(_config(ensemble_size=2, deterministic=True, saved_model=True), output_dir=out,
                    data=tiny_splits(), verbose=0)


@ENSEMBLE_RUN
def test_an_ensemble_run_writes_its_members_and_scores_their_mean(ensemble_run, single_run):
    data = tiny_splits()
    out, result = ensemble_run
    assert isinstance(result.model, DisentanglerEnsemble)
    for k in (0, 1):
        settings = json.loads((out / "members" / str(k) / "config.json").read_text())
        assert settings["ensemble_member"] == k and settings["ensemble_size"] == 1
        assert (out / "members" / str(k) / "metrics.json").is_file()
    assert json.loads((out / "config.json").read_text())["ensemble_size"] == 2
    assert not (out / "backup").exists() and (out / "saved_model").is_dir()
    assert not (out / "figures").exists()  # figures off, as in every run of the module
    # Member 0 is the single run of the same configuration.
    assert json.loads((out / "members" / "0" / "metrics.json").read_text()) == single_run.metrics
    # The ensemble's validation accuracy, by hand from its members' saved models.
    members = [keras.saving.load_model(out / "members" / str(k) / "model.keras") for k in (0, 1)]
    images, labels = data.validation.images, data.validation.labels
    metrics = json.loads((out / "metrics.json").read_text())
    for task in ("a", "b"):
        mean = np.mean([softmax(np.asarray(m(images)[task]), axis=-1) for m in members], axis=0)
        assert metrics["val"]["accuracy"][task] == pytest.approx(np.mean(mean.argmax(-1) == labels[task]))


@ENSEMBLE_RUN
def test_a_killed_ensemble_resumes_with_its_finished_members_loaded(ensemble_run, tmp_path):
    from disentangle_tf.run.training import run

    data = tiny_splits()

    class StopInSecondMember(keras.callbacks.Callback):
        starts = 0

        def on_train_begin(self, logs=None):
            StopInSecondMember.starts += 1

        def on_epoch_end(self, epoch, logs=None):
            if StopInSecondMember.starts == 2:
                raise KeyboardInterrupt

    _, reference = ensemble_run
    out = tmp_path / "killed"
    with pytest.raises(KeyboardInterrupt):
        run(_config(ensemble_size=2, deterministic=True), output_dir=out, data=data, verbose=0,
            callbacks=[StopInSecondMember()])
    assert (out / "members" / "0" / "metrics.json").is_file() and not (out / "metrics.json").exists()
    notices = []
    resumed = run(_config(ensemble_size=2, deterministic=True), output_dir=out, data=data, verbose=0,
                  notify=notices.append)
    assert notices[0].startswith("member 0 of the ensemble: trained before, loaded from")
    assert any("resuming the interrupted run" in notice for notice in notices[1:])
    assert resumed.metrics == reference.metrics
    assert not (out / "backup").exists()


def test_data_that_do_not_fit_are_refused_before_the_ensemble_writes_anything(tmp_path):
    from disentangle_tf.errors import DataError
    from disentangle_tf.run.training import run

    with pytest.raises(DataError, match="fewer than one batch"):
        run(_config(ensemble_size=2, batch_size=64), output_dir=tmp_path / "out", data=tiny_splits(), verbose=0)
    assert not (tmp_path / "out").exists()
