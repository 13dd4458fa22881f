"""Just Train Twice: the identification model's errors are repeated in the final training split."""

from __future__ import annotations

import numpy as np

from disentangle_tf.data.dataset_splits import DatasetSplits
from disentangle_tf.data.labelled_images import LabelledImages
from disentangle_tf.run import jtt
from disentangle_tf.run import training
from disentangle_tf.run.config import RunConfig
from disentangle_tf.task_spec import TaskSpec


def _ids(split):
    return np.asarray(split.images)[:, 0, 0, 0].astype(int)


def test_each_error_is_repeated_k_times_in_all_and_nothing_else_moves():
    images = np.zeros((6, 2, 2, 1), np.float32)
    images[:, 0, 0, 0] = np.arange(6)
    train = LabelledImages(images, {"a": np.arange(6) % 2})
    errors = np.array([False, True, False, False, True, False])
    counts = np.bincount(_ids(jtt.upweighted(train, errors, 4)), minlength=6)
    assert counts.tolist() == [1, 4, 1, 1, 4, 1]
    assert len(jtt.upweighted(train, errors, 1)) == 6


def test_identification_trains_a_fifth_of_the_epochs_at_least_one():
    assert [jtt.identification_epochs(e) for e in (1, 4, 5, 15, 30)] == [1, 1, 1, 3, 6]


def test_a_run_with_error_upweight_trains_on_the_identification_model_s_errors_repeated(monkeypatch):
    rng = np.random.default_rng(0)
    tasks = [TaskSpec("digit", 3), TaskSpec("shadow", 2)]

    def split(count, offset):
        images = rng.normal(size=(count, 16, 16, 1)).astype(np.float32)
        images[:, 0, 0, 0] = np.arange(count) + offset  # an id per image
        return LabelledImages(images, {"digit": np.arange(count) % 3, "shadow": (np.arange(count) // 3) % 2})

    data = DatasetSplits(tasks, split(60, 0), split(20, 1000), {}, relevant_task="digit")
    data.evaluation["val"] = data.validation
    seen = {}
    real_error_set, real_dataset = jtt.error_set, training.make_training_dataset

    def spy_errors(config, data, relevant, train):
        def identify(settings, reduced):
            seen["config"] = settings
            return train(settings, reduced)

        errors = real_error_set(config, data, relevant, identify)
        seen["errors"], seen["relevant"] = errors, relevant
        return errors

    def spy_dataset(split, **kwargs):
        seen.setdefault("training splits", []).append(_ids(split))
        return real_dataset(split, **kwargs)

    real_recompute = training.precise_batch_norm

    def spy_recompute(model, images, **kwargs):
        seen.setdefault("recomputed", []).append((len(seen.get("training splits", [])), kwargs["batches"]))
        return real_recompute(model, images, **kwargs)

    monkeypatch.setattr(training, "error_set", spy_errors)
    monkeypatch.setattr(training, "make_training_dataset", spy_dataset)
    monkeypatch.setattr(training, "precise_batch_norm", spy_recompute)
    config = RunConfig.from_flat_dict({"encoder_filters": [4, 8], "encoder_strides": [2, 2], "stem_filters": 4,
                                       "head_units": [8], "image_size": [16, 16], "batch_size": 20, "epochs": 5,
                                       "precise_batch_norm": 0, "last_layer_retraining": False,
                                       "independence_weight": 0.0, "error_upweight": 3})
    lines = []
    training.run(config, data=data, verbose=0, notify=lines.append)
    assert seen["relevant"] == "digit"
    assert seen["config"].training.epochs == 1 and seen["config"].training.error_upweight == 0
    # The identification model (the first training) predicts with recomputed batch-norm
    # statistics, although the run's own setting (0) recomputes none for the final model.
    assert seen["recomputed"] == [(1, 30)]
    identification, final = seen["training splits"]
    assert sorted(identification.tolist()) == list(range(60))
    expected = np.ones(60, int) + 2 * seen["errors"]
    assert np.bincount(final, minlength=60).tolist() == expected.tolist()
    assert any(f"gets {int(seen['errors'].sum())} of 60 training images wrong" in line for line in lines)
