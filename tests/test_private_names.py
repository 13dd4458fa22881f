"""Every private Keras name the package's fast paths and overrides rely on still exists.

A Keras release may rename a private name without notice; the package would then fall
back silently (an override never called) or fail deep in a step. Each check here fails
with the name and the module that uses it, so an upgrade shows at once what to adapt.
"""

from __future__ import annotations

import keras
import pytest


def test_the_trainer_hook_the_model_overrides_exists():
    # disentangle_tf.models.disentangler.Disentangler._maybe_symbolic_build overrides it.
    assert callable(getattr(keras.Model, "_maybe_symbolic_build", None)), (
        "keras.Model._maybe_symbolic_build is gone: Disentangler's override (models/fit_arguments.py) no longer runs")
    assert callable(getattr(keras.Model, "_symbolic_build", None)), (
        "keras.Model._symbolic_build is gone: used by Disentangler._maybe_symbolic_build")
    assert hasattr(keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)]), "_distribute_strategy"), (
        "keras.Model()._distribute_strategy is gone: read by Disentangler._maybe_symbolic_build")


def test_layer_walking_used_by_precise_batch_norm_exists():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    assert callable(getattr(model, "_flatten_layers", None)), (
        "Layer._flatten_layers is gone: models/precise_batch_norm.py walks layers with it")


@pytest.mark.parametrize("optimizer, slots", [
    (keras.optimizers.Adam, ("_momentums", "_velocities")),
    (keras.optimizers.SGD, ("momentums",)),
])
def test_optimizer_slots_the_fused_optimizers_read_exist(optimizer, slots):
    variable = keras.Variable([1.0, 2.0])
    instance = optimizer(momentum=0.9) if optimizer is keras.optimizers.SGD else optimizer()
    instance.build([variable])
    assert callable(getattr(instance, "_get_variable_index", None)), (
        "Optimizer._get_variable_index is gone: fast/optimizers.py and fast/factored_adversary_updates.py use it")
    index = instance._get_variable_index(variable)
    for slot in slots:
        values = getattr(instance, slot, None)
        assert values is not None and tuple(values[index].shape) == (2,), (
            f"{optimizer.__name__}.{slot} is gone or changed: optimizers/fused_*.py read the slot variables from it")


def test_batch_normalization_attributes_the_fused_layer_checks_exist():
    layer = keras.layers.BatchNormalization()
    layer.build((None, 3))
    for name in ("renorm", "synchronized", "moving_mean", "moving_variance", "momentum", "epsilon"):
        assert hasattr(layer, name), (
            f"BatchNormalization.{name} is gone: fast/batch_normalization.py decides with it")


def test_backup_callback_hooks_the_package_overrides_exist():
    callback = keras.callbacks.BackupAndRestore("/tmp/unused-backup-dir")
    assert callable(getattr(keras.callbacks.BackupAndRestore, "_save_model", None)), (
        "BackupAndRestore._save_model is gone: callbacks.SafeBackupAndRestore overrides it")
    assert hasattr(callback, "_current_epoch"), (
        "BackupAndRestore._current_epoch is gone: callbacks.SafeBackupAndRestore reads it")


def test_the_op_determinism_functions_a_run_restores_with_exist():
    # disentangle_tf.run.determinism reads and turns off op determinism with them
    # (TensorFlow 2.21 exports only tf.config.experimental.enable_op_determinism).
    from tensorflow.python.framework import config

    for name in ("is_op_determinism_enabled", "enable_op_determinism", "disable_op_determinism"):
        assert callable(getattr(config, name, None)), (
            f"tensorflow.python.framework.config.{name} is gone: run/determinism.py uses it")
