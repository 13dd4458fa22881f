"""One training run: data -> model -> fit -> evaluation -> files in an output directory.

This is the library behind ``python -m disentangle_tf.train``; it knows nothing of the
command line.
"""

from __future__ import annotations

import dataclasses
import pathlib
from typing import Callable, Sequence

import keras
import numpy as np
import tensorflow as tf

from .config import RunConfig
from .backup import check_data_description, describe_data, find_checkpoint, write_data_description
from .callbacks import (EpochLog, PenaltySchedule, ProgressDisplay, RestoreBestValidation, SafeBackupAndRestore,
                        StopOnNonFiniteLoss)
from ..data.pipeline import make_evaluation_dataset, make_training_dataset, steps_per_epoch, streamed_image_errors
from ..data.dataset_splits import DatasetSplits
from .datasets import load_dataset
from ..evaluation.evaluate import evaluate_splits
from ..models import Disentangler
from ..models.compiling import default_adversary_optimizer, default_optimizer
from ..models.last_layer import retrain_last_layer
from ..models.precise_batch_norm import precise_batch_norm
from ..models.training_combinations import count_combinations
from .distribution import make_strategy
from .determinism import restores_op_determinism
from .headline import headline, validation_name
from .step_notes import StepNotes
from ..fast.threads import configure_threads
from ..errors import DataError, TrainingDiverged
from .ensemble import run_ensemble, training_seed
from .output_lock import hold_output_dir
from .outputs import BACKUP_NAME, check_output_dir, prepare_output_dir, write_results
from .jtt import error_set, identification_epochs, upweighted
from .methods import method_of_run
from .result import RunResult
from .summaries import EpochSummaries, final_tags, write_run_start
from .writes import STARTS, closed_after, undone_on_failure, write_text_atomically, writing
from ..task_spec import TaskSpec, relevant_task_of

def build_model(config: RunConfig, tasks: Sequence[TaskSpec], channels: int = 1,
                synchronized_batch_norm: bool = False) -> Disentangler:
    """A compiled :class:`Disentangler` for ``tasks`` as ``config`` describes it.

    Build it under a strategy's scope to distribute it. ``synchronized_batch_norm``
    turns synchronized batch statistics on even if the configuration does not.
    """
    architecture = dataclasses.asdict(config.model)  # the fields of models.defaults.Architecture
    architecture["synchronized_batch_norm"] = config.model.synchronized_batch_norm or synchronized_batch_norm
    model = Disentangler(tasks=tasks, input_shape=(*config.data.image_size, channels), **architecture)
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
        independence_penalty=training.independence_penalty,
        group_dro_step_size=training.group_dro_step_size,
        jit_compile=training.jit_compile,
    )
    return model


def _compile_with_method(model: Disentangler, name: str, config: RunConfig) -> None:
    """Compile the trained ``model`` again, with the method called ``name`` and the run's
    settings and optimizers (their states kept): the same training, now recorded."""
    method, overrides = method_of_run(name, config.to_flat_dict())
    model.compile(optimizer=model.optimizer, adversary_optimizer=model.adversary_optimizer,
                  jit_compile=config.training.jit_compile, method=method, **overrides)


def checked_model(config: RunConfig, data: DatasetSplits, strategy: tf.distribute.Strategy) -> Disentangler:
    """The run's model, built under ``strategy``'s scope, once the data are known to fit it.

    Raises:
        DataError: as :func:`check_splits` and :func:`check_split_labels`, after the data
            file's name when the data came from one (``--data``).
    """
    with strategy.scope():
        model = build_model(config, data.tasks, channels=data.train.image_shape[-1],
                            synchronized_batch_norm=strategy.num_replicas_in_sync > 1)
    try:
        check_splits(data, config.data.batch_size)
        check_split_labels(model, data)
    except ValueError as error:
        raise DataError(f"{config.data.data}: {error}" if config.data.data else str(error)) from None
    return model


def check_splits(data: DatasetSplits, batch_size: int) -> None:
    """Refuse a data set that cannot train: too few training images, no validation images.

    Raises:
        ValueError: naming the split and what was expected.
    """
    if len(data.train) < batch_size:
        raise ValueError(f"training split: {len(data.train)} images, fewer than one batch; "
                         f"expected at least --batch-size {batch_size}")
    if len(data.validation) == 0:
        raise ValueError("validation split: no images; expected at least one")


def check_split_labels(model: Disentangler, data: DatasetSplits) -> None:
    """Check every split against the model (image shape, label range).

    An evaluation split may lack the labels of some task; the labels it has are checked.

    Raises:
        ValueError: naming the split, the task and what was expected.
    """
    for name, split in (("training split", data.train), ("validation split", data.validation)):
        try:
            model.check_data(split)
        except ValueError as error:
            raise ValueError(f"{name}: {error}") from None
    for name, split in data.evaluation.items():
        if split is data.train or split is data.validation:
            continue
        present = {task.name: split.labels.get(task.name, np.zeros(len(split), np.int64))
                   for task in model.tasks}
        try:
            model.check_data(dataclasses.replace(split, labels=present))
        except ValueError as error:
            raise ValueError(f"split {name!r}: {error}") from None


def sample_images(data, tasks: Sequence[TaskSpec], count: int = 16, seed: int = 0) -> tuple[np.ndarray, str]:
    """``count`` training images drawn with ``seed`` (in their order), and their labels as text.

    Returns:
        ``(images, description)``: ``(n, H, W, C)`` images (n = min(count, N)) and one
        line naming each image's labels in reading order, for TensorBoard.
    """
    chosen = np.sort(np.random.default_rng(seed).choice(len(data), min(count, len(data)), replace=False))

    def name(task, label):
        label = int(label)
        return task.class_names[label] if task.class_names and 0 <= label < len(task.class_names) else str(label)

    described = []
    for index in chosen:
        labels = [name(t, data.labels[t.name][index]) for t in tasks if t.name in data.labels]
        described.append("(" + ", ".join(labels) + ")")
    order = ", ".join(t.name for t in tasks)
    text = (f"{len(chosen)} training images, each rescaled to [0, 1] for display; labels ({order}) "
            f"in reading order: " + " ".join(described))
    return np.asarray(data.images[chosen]), text


def _with_upweighted_errors(config: RunConfig, data: DatasetSplits, strategy, notify) -> DatasetSplits:
    """``data`` whose training split repeats the identification model's errors (:mod:`.jtt`)."""
    errors = error_set(config, data, relevant_task_of(data.tasks, data.relevant_task),
                       lambda settings, reduced: run(settings, data=reduced, verbose=0, strategy=strategy))
    upweight = config.training.error_upweight
    notify(f"just train twice: the identification model ({identification_epochs(config.training.epochs)} epochs) "
           f"gets {int(errors.sum())} of {len(data.train)} training images wrong; each is repeated {upweight} times")
    return dataclasses.replace(data, train=upweighted(data.train, errors, upweight))


@restores_op_determinism
def run(
    config: RunConfig,
    output_dir: str | pathlib.Path | None = None,
    overwrite: bool = False,
    data: DatasetSplits | None = None,
    verbose="auto",
    callbacks: Sequence[keras.callbacks.Callback] = (),
    strategy: tf.distribute.Strategy | None = None,
    notify: Callable[[str], None] = print,
    method: str | None = None,
) -> RunResult:
    """Train and evaluate one model; write its files if ``output_dir`` is given.

    Everything the data and options imply is checked before the output directory is
    created or changed. A run with an output directory backs itself up at the end of
    every epoch (``output_dir/backup``, written so that a kill cannot damage it:
    :mod:`disentangle_tf.run.backup`); started again with the same configuration after
    being killed, it resumes from that backup, if the data still imply the same tasks,
    classes, image shape and training labels. Every epoch's data order is a function of the
    seed and the epoch, so with ``deterministic`` the resumed run ends exactly as an
    uninterrupted one would.

    TensorFlow's settings of the whole process: with ``deterministic`` the run turns op
    determinism on, and back to what it was when it returns or raises
    (:mod:`~disentangle_tf.run.determinism`). With ``threads="auto"`` it sizes
    TensorFlow's CPU thread pools (:func:`~disentangle_tf.fast.threads.configure_threads`)
    if no TensorFlow op has run yet in the process; TensorFlow cannot resize them after
    that, so they stay so for the rest of the process (later runs and models included),
    and a run that starts after an op leaves them as they are.

    Args:
        config: the run's configuration.
        output_dir: directory for ``saved_model/``, ``model.keras``, ``logs/``
            (TensorBoard, :mod:`disentangle_tf.run.summaries`, and ``logs/epochs.csv``,
            every value of every epoch), ``metrics.json`` and ``config.json``; None
            writes nothing.
        overwrite: replace an earlier run's files in ``output_dir``.
        data: the data set; None loads ``config.data.dataset``.
        verbose: the progress display on stdout
            (:class:`~disentangle_tf.run.callbacks.ProgressDisplay`, in place of Keras's):
            ``"auto"`` or 1, a row of the tasks' accuracies and losses per epoch and, on
            a terminal, a progress bar; 2, the rows only; 0, nothing.
        callbacks: extra Keras callbacks.
        strategy: a ``tf.distribute`` strategy; None makes the one
            ``config.training.strategy`` names.
        notify: called with a one-line notice when the run resumes and, unless ``verbose``
            is 0, before each step after the last epoch (``refitting the last layers...``).
        method: the name of the method the configuration's settings come from
            (``--method``), or None. TensorBoard's HParams list it (as ``method``) beside
            the configuration's keys that change what is learned
            (:meth:`~disentangle_tf.run.config.RunConfig.hyperparameters`); the
            model is compiled with it once trained (the same settings and optimizers,
            :func:`~disentangle_tf.run.methods.method_of_run`), so that ``model.keras``
            records it (``compiled_method``) and a later ``fit`` of the model carries out
            the method's batches and steps after training.

    Returns:
        A :class:`RunResult`.

    Raises:
        DataError: (a ``ValueError``, before anything is written) if the data do not fit the
            configuration or the model: an empty split, too few training images for
            one batch, labels out of range, images of another shape.
        ConfigError: (before anything is written) if ``output_dir`` is not empty and
            holds no resumable run, and ``overwrite`` is false, or another live process
            is writing to it (``overwrite`` or not): a run holds its directory's lock
            (:mod:`~disentangle_tf.run.output_lock`) while it writes.
        BackupError: if the backup to resume was made for other data (other tasks,
            classes, image shape or training labels) or is damaged with no intact
            previous copy; the backup is kept.
        TrainingDiverged: if a loss became NaN or infinite; the logs and the last good
            backup are kept.
        WriteError: if a file cannot be written (a full disk, a quota, a read-only file
            system), naming it; the backup of the last finished epoch is kept, and the
            same call resumes after it (or, once every epoch is done, writes the results
            again). Before the first epoch, what the run had written is removed.
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
    if training.ensemble_size > 1:
        def train_member(settings, member_dir, member_data):
            return run(settings, member_dir, overwrite=overwrite, data=member_data, verbose=verbose,
                       callbacks=callbacks, strategy=strategy, notify=notify, method=method)

        return run_ensemble(config, train_member, lambda checked: checked_model(config, checked, strategy),
                            output_dir=output_dir, overwrite=overwrite, data=data, notify=notify)
    resume = False
    if output_dir is not None:
        output_dir = pathlib.Path(output_dir)
        resume = check_output_dir(output_dir, overwrite, config.to_json())  # writes nothing
    keras.utils.set_random_seed(config.data.seed)
    if data is None:
        data = load_dataset(config.data)
    configure_threads(training.threads, len(data.tasks))
    seed = training_seed(config)
    if seed != config.data.seed:  # an ensemble's member: the same data, its own initialisation
        keras.utils.set_random_seed(seed)
    model = checked_model(config, data, strategy)
    model.training_combinations = count_combinations(data.train.labels, model.task_names)
    if training.error_upweight > 1:
        data = _with_upweighted_errors(config, data, strategy, notify)
        keras.utils.set_random_seed(seed)

    # The input is good: only now is anything written, by this process alone: it holds the
    # directory's lock until the run ends (an earlier check may be out of date by now).
    with hold_output_dir(output_dir, "training"):
        if output_dir is not None:
            resume = check_output_dir(output_dir, overwrite, config.to_json())
        backup_dir = None if output_dir is None else output_dir / BACKUP_NAME
        initial_epoch = 0
        description = describe_data(data.tasks, data.train)
        if resume:
            check_data_description(backup_dir, description)
            checkpoint = find_checkpoint(backup_dir)
            initial_epoch = 0 if checkpoint is None else checkpoint.epoch
            if checkpoint is not None and checkpoint.damaged_epoch is not None:
                notify(f"the backup of epoch {checkpoint.damaged_epoch} in {backup_dir} is damaged; "
                       f"resuming from the previous one, epoch {checkpoint.epoch}")
            notify(f"resuming the interrupted run in {output_dir} after epoch {initial_epoch}")
        elif output_dir is not None:
            prepare_output_dir(output_dir, overwrite, config.to_json())
            # What is written before the first epoch, config.json last (it makes the run
            # resumable): a failed write removes it all, and the same command starts again.
            with undone_on_failure(backup_dir, output_dir / "logs"):
                write_data_description(backup_dir, description)
                with writing(output_dir / "logs", STARTS, room=True):
                    write_run_start(output_dir / "logs", {**({} if method is None else {"method": method}),
                                                          **config.hyperparameters()},
                                    final_tags(list(data.evaluation), model.task_names),
                                    *sample_images(data.train, model.tasks, seed=config.data.seed))
                write_text_atomically(output_dir / "config.json", config.to_json(), STARTS)
        fresh = training.adversary_batches == "fresh" and model.adversaries
        train_dataset = make_training_dataset(
            data.train,
            batch_size=config.data.batch_size,
            adversary_steps=training.adversary_steps if fresh else 0,
            flip=config.data.flip,
            sampling=config.data.sampling,
            mixup=config.data.mixup,
            mixup_partners=config.data.mixup_partners,
            seed=seed,
            device=None if replicated else "auto",
            epochs=training.epochs,
            initial_epoch=initial_epoch,
        )
        guard = StopOnNonFiniteLoss()
        # First the callbacks that add values to the epoch's logs (the penalty's factor and
        # weights, the best epoch), then those that show and write them.
        all_callbacks = [PenaltySchedule(training.penalty_schedule), guard, *callbacks]
        if training.restore_best_weights:
            all_callbacks.insert(1, RestoreBestValidation(model.task_names))
        if verbose != 0:
            all_callbacks.append(ProgressDisplay(model.task_names, bar=False if verbose == 2 else None))
        writers = []  # closed however fit ends (a failed write stops it before its end)
        if output_dir is not None:
            logs = output_dir / "logs"
            writers = [EpochSummaries(logs, model.task_names), EpochLog(logs / "epochs.csv", resumed_after=initial_epoch)]
            # The backup last: an epoch is backed up once it is logged, so that a run stopped
            # in between (a full disk, a kill) logs that epoch again, once.
            all_callbacks += [*writers, SafeBackupAndRestore(str(backup_dir), guard, delete_checkpoint=False)]
        # A streamed image that can no longer be read stops the run with one DataError.
        with streamed_image_errors(), closed_after(writers):
            history = model.fit(
                train_dataset,
                epochs=training.epochs,
                initial_epoch=initial_epoch,
                steps_per_epoch=steps_per_epoch(data.train, config.data.batch_size),
                validation_data=make_evaluation_dataset(data.validation, config.data.batch_size),
                callbacks=all_callbacks,
                verbose=0,
            )
            if guard.diverged:
                kept = "" if backup_dir is None else f"; the last good backup is kept in {backup_dir}"
                raise TrainingDiverged(f"training stopped: {guard.diverged}{kept}")
            step = StepNotes(notify if verbose != 0 else (lambda line: None))  # what is done after the last epoch
            if training.precise_batch_norm:
                batches = training.precise_batch_norm
                step(f"recomputing batch-norm statistics ({batches} batches)...")
                precise_batch_norm(model, data.train.images, batches=batches,
                                   batch_size=min(config.data.batch_size, len(data.train)), seed=seed,
                                   on_batch=lambda k: step.progress(k, batches, "batches"))
            if training.last_layer_retraining:
                step("refitting the last layers...")
                retrain_last_layer(model, data.train.images, data.train.labels, batch_size=config.data.batch_size)
            if method is not None:
                with strategy.scope():
                    _compile_with_method(model, method, config)
            step(f"evaluating {', '.join(data.evaluation)}...")
            metrics = evaluate_splits(model, data.evaluation, config.data.batch_size,
                                      on_split=lambda k: step.progress(k, len(data.evaluation), "splits"))
        words = headline(metrics, data.relevant_task, validation_name(data.evaluation, data.validation))
        if output_dir is not None:
            write_results(model, metrics, output_dir, step=training.epochs, headline=words, notify=step,
                          saved_model=training.saved_model, figures=training.figures)
        return RunResult(model=model, metrics=metrics, history=history.history, output_dir=output_dir,
                         relevant_task=data.relevant_task, headline=words)
