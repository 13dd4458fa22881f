"""A run leaves TensorFlow's op determinism as it found it, whether it returns or raises, so
that a program that calls ``run`` and then trains something else gets TensorFlow as it was."""

from __future__ import annotations

import keras
import pytest

from conftest import TINY_METHOD, build_random_data
from disentangle_tf.data.dataset_splits import DatasetSplits
from disentangle_tf.run.config import RunConfig
from disentangle_tf.run.determinism import op_determinism_enabled, op_determinism_restored, set_op_determinism
from disentangle_tf.run.training import run
from disentangle_tf.task_spec import TaskSpec

TINY = {"image_size": [16, 20], "encoder_filters": [4, 8], "encoder_strides": [2, 2], "stem_filters": 4,
        "head_units": [8], "adversary_steps": 1, "batch_size": 4, "epochs": 1, "seed": 5, **TINY_METHOD}


def tiny_splits() -> DatasetSplits:
    """16 training and 8 validation images of 16 x 20, two tasks."""
    tasks = [TaskSpec("a", 2), TaskSpec("b", 3)]
    specs = [(t.name, t.num_classes) for t in tasks]
    train = build_random_data(specs, count=16, image_shape=(16, 20, 1), seed=1)
    val = build_random_data(specs, count=8, image_shape=(16, 20, 1), seed=2)
    return DatasetSplits(tasks=tasks, train=train, validation=val, evaluation={"val": val})


class Failure(Exception):
    pass


class Record(keras.callbacks.Callback):
    """Records whether op determinism is on when training starts; raises then if asked."""

    def __init__(self, fail: bool = False):
        super().__init__()
        self.fail, self.seen = fail, []

    def on_train_begin(self, logs=None):
        self.seen.append(op_determinism_enabled())
        if self.fail:
            raise Failure


@pytest.fixture(autouse=True)
def determinism_off():
    set_op_determinism(False)
    yield
    set_op_determinism(False)


def test_a_deterministic_run_turns_determinism_off_again():
    record = Record()
    result = run(RunConfig().replace({**TINY, "deterministic": True}), data=tiny_splits(), verbose=0,
                 callbacks=[record])
    assert record.seen == [True]  # on while the run trains
    assert not op_determinism_enabled()
    assert set(result.metrics) == {"val"}


def test_a_deterministic_run_that_raises_turns_determinism_off_again():
    record = Record(fail=True)
    with pytest.raises(Failure):
        run(RunConfig().replace({**TINY, "deterministic": True}), data=tiny_splits(), verbose=0, callbacks=[record])
    assert record.seen == [True]
    assert not op_determinism_enabled()


def test_a_run_that_raises_before_training_turns_determinism_off_again():
    # Fewer training images than one batch: refused once determinism is on.
    with pytest.raises(ValueError, match="fewer than one batch"):
        run(RunConfig().replace({**TINY, "deterministic": True, "batch_size": 32}), data=tiny_splits(), verbose=0)
    assert not op_determinism_enabled()


@pytest.mark.parametrize("deterministic", [True, False])
def test_determinism_a_program_turned_on_stays_on(deterministic):
    set_op_determinism(True)
    record = Record()
    run(RunConfig().replace({**TINY, "deterministic": deterministic}), data=tiny_splits(), verbose=0,
        callbacks=[record])
    assert record.seen == [True] and op_determinism_enabled()


def test_the_restoring_block_restores_either_way():
    for before in (False, True):
        set_op_determinism(before)
        with pytest.raises(Failure), op_determinism_restored():
            set_op_determinism(not before)
            raise Failure
        assert op_determinism_enabled() is before


def test_run_says_what_it_does_to_tensorflow():
    text = " ".join(run.__doc__.split())
    assert "back to what it was when it returns or raises" in text
    assert "stay so for the rest of the process" in text
    assert all(name in run.__doc__ for name in ("deterministic", 'threads="auto"'))
