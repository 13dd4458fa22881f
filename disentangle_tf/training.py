"""One training run: data -> model -> fit -> evaluation -> files in an output directory.

This is the library behind ``python -m disentangle_tf.train``; it knows nothing of the
command line.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
from typing import Sequence

import keras
import tensorflow as tf

from .config import RunConfig
from .callbacks import (PenaltySchedule, RestoreBestValidation, SafeBackupAndRestore, StopOnNonFiniteLoss,
                        backed_up_epoch)
from .data.pipeline import make_evaluation_dataset, make_training_dataset, steps_per_epoch
from .data.registry import DatasetSplits, load_dataset
from .evaluation import evaluate_splits
from .export import export_saved_model
from .models import Disentangler
from .models.disentangler import default_adversary_optimizer, default_optimizer
from .models.precise_batch_norm import precise_batch_norm
from .distribution import make_strategy
from .threads import configure_threads
from .errors import TrainingDiverged
from .outputs import BACKUP_NAME, prepare_output_dir
from .task_spec import TaskSpec

@dataclasses.dataclass
class RunResult:
    """What a run produced.

    Attributes:
        model: the trained model.
        metrics: per evaluated split, task and adversary accuracies (``metrics.json``).
        history: per-epoch values of every tracked metric.
        output_dir: where the files were written (None if nothing was written).
    """

    model: Disentangler
    metrics: dict
    history: dict
    output_dir: pathlib.Path | None


def build_model(config: RunConfig, tasks: Sequence[TaskSpec], channels: int = 1,
                synchronized_batch_norm: bool = False) -> Disentangler:
    """A compiled :class:`Disentangler` for ``tasks`` as ``config`` describes it.

    Build it under a strategy's scope to distribute it. ``synchronized_batch_norm``
    turns synchronized batch statistics on even if the configuration does not.
    """
    model_config = config.model
    model = Disentangler(
        tasks=tasks,
        input_shape=(*config.data.image_size, channels),
        encoder_filters=model_config.encoder_filters,
        encoder_strides=model_config.encoder_strides,
        stem_filters=model_config.stem_filters,
        activation=model_config.activation,
        feature_pooling=model_config.feature_pooling,
        head_units=model_config.head_units,
        l2_weight=model_config.l2_weight,
        synchronized_batch_norm=model_config.synchronized_batch_norm or synchronized_batch_norm,
        conditional_adversaries=model_config.conditional_adversaries,
    )
    training = config.training
    model.compile(
        optimizer=default_optimizer(training.learning_rate),
        adversary_optimizer=default_adversary_optimizer(
            training.adversary_learning_rate, training.adversary_momentum
        ),
        adversarial_weight=training.adversarial_weight,
        adversary_steps=training.adversary_steps,
        adversary_batches=training.adversary_batches,
        adversarial_objective=training.adversarial_objective,
        independence_weight=training.independence_weight,
        independence_bandwidth=training.independence_bandwidth,
        adversarial_training=training.adversarial_training,
        independence_layers=training.independence_layers,
        jit_compile=training.jit_compile,
    )
    return model


def run(
    config: RunConfig,
    output_dir: str | pathlib.Path | None = None,
    overwrite: bool = False,
    data: DatasetSplits | None = None,
    verbose="auto",
    callbacks: Sequence[keras.callbacks.Callback] = (),
    strategy: tf.distribute.Strategy | None = None,
) -> RunResult:
    """Train and evaluate one model; write its files if ``output_dir`` is given.

    A run with an output directory backs itself up at the end of every epoch
    (``output_dir/backup``); started again with the same configuration after being
    killed, it resumes from that backup. Every epoch's data order is a function of the
    seed and the epoch, so with ``deterministic`` the resumed run ends exactly as an
    uninterrupted one would.

    Args:
        config: the run's configuration.
        output_dir: directory for ``saved_model/``, ``model.keras``, ``logs/``,
            ``metrics.json`` and ``config.json``; None writes nothing.
        overwrite: replace an earlier run's files in ``output_dir``.
        data: the data set; None loads ``config.data.dataset``.
        verbose: Keras ``fit`` verbosity (``"auto"`` shows a progress bar).
        callbacks: extra Keras callbacks.
        strategy: a ``tf.distribute`` strategy; None makes the one
            ``config.training.strategy`` names.

    Returns:
        A :class:`RunResult`.

    Raises:
        TrainingDiverged: if a loss became NaN or infinite; the logs and the last good
            backup are kept.
    """
    training = config.training
    # TensorFlow's thread pools can be sized only before its first op, which loading
    # image files runs: size them from the configured task names when there are some,
    # else (synthetic, simulated and HDF5 data load without TensorFlow ops) once the
    # data say how many tasks there are.
    if config.data.tasks:
        configure_threads(training.threads, len(config.data.tasks))
    if training.deterministic:
        tf.config.experimental.enable_op_determinism()
    strategy = strategy or make_strategy(training.strategy)
    replicated = strategy.num_replicas_in_sync > 1 or training.strategy != "one-device"
    resume = False
    if output_dir is not None:
        output_dir = pathlib.Path(output_dir)
        resume = prepare_output_dir(output_dir, overwrite, config.to_json())
        if not resume:
            (output_dir / "config.json").write_text(config.to_json())
    keras.utils.set_random_seed(config.data.seed)
    if data is None:
        data = load_dataset(config.data)
    configure_threads(training.threads, len(data.tasks))
    with strategy.scope():
        model = build_model(config, data.tasks, channels=data.train.image_shape[-1],
                            synchronized_batch_norm=strategy.num_replicas_in_sync > 1)

    for split in (data.train, data.validation):
        model.check_data(split)
    backup_dir = None if output_dir is None else output_dir / BACKUP_NAME
    initial_epoch = backed_up_epoch(backup_dir) if resume else 0
    fresh = training.adversary_batches == "fresh" and model.adversaries
    train_dataset = make_training_dataset(
        data.train,
        batch_size=config.data.batch_size,
        adversary_steps=training.adversary_steps if fresh else 0,
        flip=config.data.flip,
        sampling=config.data.sampling,
        seed=config.data.seed,
        device=None if replicated else "auto",
        epochs=training.epochs,
        initial_epoch=initial_epoch,
    )
    guard = StopOnNonFiniteLoss()
    all_callbacks = [guard, *callbacks]
    if training.restore_best_weights:
        # Before TensorBoard, so that the epoch's logs it writes carry the best epoch.
        all_callbacks.insert(0, RestoreBestValidation(model.task_names))
    if training.penalty_schedule != "constant":
        # Before TensorBoard, so that the epoch's logs it writes carry the factor.
        all_callbacks.insert(0, PenaltySchedule(training.penalty_schedule))
    if output_dir is not None:
        all_callbacks.append(SafeBackupAndRestore(str(backup_dir), guard))
        all_callbacks.append(keras.callbacks.TensorBoard(log_dir=str(output_dir / "logs")))
    history = model.fit(
        train_dataset,
        epochs=training.epochs,
        initial_epoch=initial_epoch,
        steps_per_epoch=steps_per_epoch(data.train, config.data.batch_size),
        validation_data=make_evaluation_dataset(data.validation, config.data.batch_size),
        callbacks=all_callbacks,
        verbose=verbose,
    )
    if guard.diverged:
        kept = "" if backup_dir is None else f"; the last good backup is kept in {backup_dir}"
        raise TrainingDiverged(f"training stopped: {guard.diverged}{kept}")
    if training.precise_batch_norm:
        precise_batch_norm(model, data.train.images, batches=training.precise_batch_norm,
                           batch_size=min(config.data.batch_size, len(data.train)), seed=config.data.seed)
    metrics = evaluate_splits(model, data.evaluation, config.data.batch_size)
    if output_dir is not None:
        model.save(output_dir / "model.keras")
        export_saved_model(model, output_dir / "saved_model")
        (output_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    return RunResult(model=model, metrics=metrics, history=history.history, output_dir=output_dir)
