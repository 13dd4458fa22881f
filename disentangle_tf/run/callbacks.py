"""Keras callbacks of a training run: divergence guard, safe backup, penalty warm-up,
model selection, and what a person reads (the progress display and the epoch log)."""

from __future__ import annotations

import math
import pathlib
import sys
import time

import keras

from . import console
from .backup import find_checkpoint, write_checkpoint
from ..errors import BackupError
from .writes import RESUMES, close_quietly, save_weights_file, writing

#: The losses the divergence guard watches.
WATCHED_LOSSES = ("encoder_loss", "adversary_loss")


class StopOnNonFiniteLoss(keras.callbacks.Callback):
    """Stop training at the first batch whose loss is NaN or infinite.

    Unlike ``keras.callbacks.TerminateOnNaN`` it remembers where and which loss
    diverged, so that the run can report it and the backup is not overwritten with
    the diverged weights (see :class:`SafeBackupAndRestore`).
    """

    def __init__(self):
        super().__init__()
        self.diverged: str | None = None
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        for name in WATCHED_LOSSES:
            value = (logs or {}).get(name)
            if value is not None and not math.isfinite(float(value)):
                self.diverged = f"{name} became {float(value)} at epoch {self._epoch + 1}, step {batch + 1}"
                self.model.stop_training = True
                return


class SafeBackupAndRestore(keras.callbacks.BackupAndRestore):
    """``BackupAndRestore`` whose backup a kill cannot damage, and never of a diverged run.

    Every epoch's checkpoint is written under a temporary name and renamed into place,
    and the one before it is kept (:func:`~disentangle_tf.run.backup.write_checkpoint`); a
    restart loads the newest complete checkpoint
    (:func:`~disentangle_tf.run.backup.find_checkpoint`).

    Args:
        backup_dir: where the backup lives.
        guard: the run's :class:`StopOnNonFiniteLoss`; once it has fired, the backup
            is frozen at the last good epoch and kept after training ends.
        delete_checkpoint: remove the backup when training ends (False leaves that to
            the caller, once the run's results are written).

    Raises:
        BackupError: at the start of training, if the backup holds no complete
            checkpoint.
        WriteError: if an epoch's checkpoint cannot be written (a full disk); the others are kept.
    """

    def __init__(self, backup_dir: str, guard: StopOnNonFiniteLoss, delete_checkpoint: bool = True):
        super().__init__(backup_dir=backup_dir, save_freq="epoch", delete_checkpoint=delete_checkpoint)
        self.guard = guard

    def on_train_begin(self, logs=None):
        checkpoint = find_checkpoint(self.backup_dir)
        if checkpoint is None:
            return
        if self.model.optimizer is not None and not self.model.optimizer.built:
            self.model.optimizer.build(self.model.trainable_variables)  # its variables are in the file
        try:
            self.model.load_weights(checkpoint.weights)
        except (ValueError, OSError) as error:
            reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise BackupError(f"the backup in {self.backup_dir} does not fit this model ({reason}): start a new "
                              "--output-dir or pass --overwrite") from None

    def on_epoch_end(self, epoch, logs=None):
        if self.guard.diverged is None:
            write_checkpoint(self.backup_dir, lambda path: save_weights_file(self.model, path), epoch + 1)

    def on_train_end(self, logs=None):
        if self.guard.diverged is None:
            super().on_train_end(logs)


def backed_up_epoch(backup_dir: str | pathlib.Path) -> int:
    """The number of epochs the newest complete checkpoint of a backup holds (0 if none).

    Raises:
        BackupError: if the backup holds no complete checkpoint.
    """
    checkpoint = find_checkpoint(backup_dir)
    return 0 if checkpoint is None else checkpoint.epoch


#: Schedules of :class:`PenaltySchedule`: the factor at training progress ``p`` in [0, 1].
SCHEDULES = {
    "constant": lambda progress: 1.0,
    # Ganin & Lempitsky, "Unsupervised domain adaptation by backpropagation", ICML 2015.
    "dann": lambda progress: 2.0 / (1.0 + math.exp(-10.0 * progress)) - 1.0,
}


class PenaltySchedule(keras.callbacks.Callback):
    """Warm up lambda and the independence weight over training.

    Before every training step it sets the model's ``penalty_scale`` (a variable that
    multiplies the adversarial term and the independence penalty of Eq. 1; reading it
    needs no new trace) to ``schedule(p)``, with ``p`` in [0, 1] the fraction of all
    training steps done. The epoch's logs (hence TensorBoard) carry the factor as
    ``penalty_scale`` and the effective weights as ``effective_adversarial_weight``
    and ``effective_independence_weight``.

    Args:
        schedule: ``"dann"``, ``2 / (1 + exp(-10 p)) - 1`` (Ganin & Lempitsky, ICML
            2015: 0 at the start, 0.76 at a fifth, 0.99 at half way), ``"constant"``
            (1), or a callable of ``p``.

    Raises:
        ValueError: for an unknown schedule name.

    Example:

    >>> schedule = PenaltySchedule("dann")
    >>> round(schedule.factor(0.5), 3)
    0.987
    """

    def __init__(self, schedule="dann"):
        super().__init__()
        if callable(schedule):
            self.factor = schedule
        elif schedule in SCHEDULES:
            self.factor = SCHEDULES[schedule]
        else:
            raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)} or a callable; got {schedule!r}")
        self._step = 0
        self._value = 1.0

    def _total_steps(self) -> int | None:
        steps, epochs = self.params.get("steps"), self.params.get("epochs")
        return steps * epochs if steps and epochs else None

    def on_epoch_begin(self, epoch, logs=None):
        steps = self.params.get("steps")
        if steps:  # a resumed run starts at its initial epoch
            self._step = max(self._step, epoch * steps)

    def on_train_batch_begin(self, batch, logs=None):
        total = self._total_steps()
        progress = min(self._step / total, 1.0) if total else 1.0
        self._value = float(self.factor(progress))
        self.model.penalty_scale.assign(self._value)
        self._step += 1

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["penalty_scale"] = self._value
            logs["effective_adversarial_weight"] = self._value * self.model.adversarial_weight
            logs["effective_independence_weight"] = self._value * self.model.independence_weight


class RestoreBestValidation(keras.callbacks.Callback):
    """At the end of training, restore the weights of the epoch with the best validation score.

    The score is the mean over tasks of the validation accuracy (``val_<task>_accuracy``
    in the epoch's logs); ties go to the later epoch. This is model selection on the
    ordinary validation split, as Keras's ``EarlyStopping(restore_best_weights=True)``
    does without stopping: it guards against a last epoch that a noisy step left worse
    than the ones before (Adam with ``beta_1 = 0`` and a constant learning rate, the
    authors' settings, can do that).

    Args:
        task_names: the tasks whose validation accuracies are averaged.

    Raises:
        ValueError: at the end of an epoch whose logs lack a validation accuracy (fit
            without ``validation_data``).
    """

    def __init__(self, task_names):
        super().__init__()
        self.task_names = tuple(task_names)
        self.best_epoch: int | None = None
        self.best_score = -math.inf
        self._best_weights = None

    def on_epoch_end(self, epoch, logs=None):
        keys = [f"val_{task}_accuracy" for task in self.task_names]
        missing = [k for k in keys if k not in (logs or {})]
        if missing:
            raise ValueError(f"RestoreBestValidation needs validation data: the logs lack {', '.join(missing)}")
        score = sum(float(logs[k]) for k in keys) / len(keys)
        if score >= self.best_score:
            self.best_score, self.best_epoch = score, epoch
            self._best_weights = self.model.get_weights()
        logs["best_validation_epoch"] = self.best_epoch + 1

    def on_train_end(self, logs=None):
        if self._best_weights is not None:
            self.model.set_weights(self._best_weights)


class ProgressDisplay(keras.callbacks.Callback):
    """A compact progress display of the tasks: in place of Keras's progress bar.

    At the end of every epoch one row (:func:`~disentangle_tf.run.console.epoch_row`) gives
    each task's accuracy and loss on the training and validation data; the adversaries
    and every other value go to TensorBoard and the epoch log (:class:`EpochLog`). On
    a terminal a one-line bar (:func:`~disentangle_tf.run.console.progress_bar`) shows the
    epoch's progress, the time left and the running training values, redrawn in place at
    most every ``interval`` seconds. Use it with ``fit(..., verbose=0)``. No line is
    longer than :data:`~disentangle_tf.run.console.WIDTH` characters (nor the terminal).

    Args:
        task_names: the tasks shown, in this order.
        stream: where to write (default: ``sys.stdout`` when training starts).
        bar: draw the bar; None: when ``stream`` is a terminal.
        interval: least seconds between two redraws of the bar.
    """

    def __init__(self, task_names, stream=None, bar: bool | None = None, interval: float = 0.2):
        super().__init__()
        self.task_names = tuple(task_names)
        self.stream = stream
        self.bar = bar
        self.interval = interval
        self._out = None
        self._drawn = 0.0
        self._epoch_start = 0.0
        self._epoch = 0
        self._step = 0
        self._logs = {}
        self._best_epoch = None
        self._bar = False
        self._header = False

    def _width(self) -> int:
        if not self._bar:
            return console.WIDTH
        import shutil

        return max(40, min(console.WIDTH, shutil.get_terminal_size((console.WIDTH + 1, 24)).columns - 1))

    def _write(self, text: str) -> None:
        self._out.write(text)
        self._out.flush()

    def _draw(self, note: str = "") -> None:
        line = console.progress_bar(self._epoch + 1, self.params.get("epochs") or 0, self._step,
                                    self.params.get("steps"), time.monotonic() - self._epoch_start,
                                    self._logs, self.task_names, self._width(), note)
        self._write("\r" + line + "\x1b[K")
        self._drawn = time.monotonic()

    def on_train_begin(self, logs=None):
        self._out = self.stream or sys.stdout
        self._bar = self.bar if self.bar is not None else bool(getattr(self._out, "isatty", lambda: False)())
        self._best_epoch = None
        self._header = False

    def on_epoch_begin(self, epoch, logs=None):
        if not self._header:  # over the first epoch's row: none when no epoch is left to train
            self._write(console.EPOCH_HEADER + "\n")
            self._header = True
        self._epoch, self._step, self._logs = epoch, 0, {}
        self._epoch_start = time.monotonic()
        if self._bar:
            self._draw()

    def on_train_batch_end(self, batch, logs=None):
        self._step, self._logs = batch + 1, dict(logs or {})
        steps = self.params.get("steps")
        if self._bar and (time.monotonic() - self._drawn >= self.interval or self._step == steps):
            self._draw()

    def on_test_begin(self, logs=None):
        if self._bar:
            self._draw("validating")

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        rows = console.epoch_row(epoch + 1, self.params.get("epochs") or epoch + 1,
                                 time.monotonic() - self._epoch_start, logs, self.task_names, self._width())
        self._write(("\r\x1b[K" if self._bar else "") + "\n".join(rows) + "\n")
        if "best_validation_epoch" in logs:
            self._best_epoch = int(logs["best_validation_epoch"])

    def on_train_end(self, logs=None):
        if self._best_epoch is not None:
            self._write(f"kept the weights of epoch {self._best_epoch}, the best mean validation accuracy\n")


def _epoch_of(line: str) -> int:
    """The epoch of a row of :class:`EpochLog` (its first column); -1 if unreadable."""
    try:
        return int(float(line.split(",", 1)[0]))
    except ValueError:
        return -1


class EpochLog(keras.callbacks.CSVLogger):
    """Every value of Keras's epoch logs, one CSV row per epoch (``CSVLogger``).

    The columns are ``epoch`` (epochs done: 1 after the first), then every key of the
    logs in alphabetical order (training values, ``val_`` validation values, the
    adversaries, the penalty). An existing file is appended to, so that a resumed run
    goes on where it stopped; its rows after epoch ``resumed_after`` (epochs an
    interrupted run logged after the backup it resumes from) are dropped first, and so is
    a row that a failed write cut short, so that every epoch has one whole row.

    Args:
        filename: the CSV file.
        resumed_after: the epochs done when this training starts (``fit``'s
            ``initial_epoch``).

    Raises:
        WriteError: if the file cannot be written (a full disk); the file is closed.
    """

    def __init__(self, filename, resumed_after: int = 0):
        super().__init__(str(filename), append=True)
        self.resumed_after = int(resumed_after)

    def on_train_begin(self, logs=None):
        path = pathlib.Path(self.filename)
        if path.is_file():
            with open(path, newline="") as file:  # the rows' own line ends, kept as they are
                lines = file.read().splitlines(keepends=True)
            kept = [line for i, line in enumerate(lines) if line.endswith("\n")
                    and (i == 0 or 0 < _epoch_of(line) <= self.resumed_after)]
            if kept != lines:
                with writing(path, RESUMES):
                    path.write_text("".join(kept), newline="")
        with writing(path, RESUMES, closing=[self]):
            super().on_train_begin(logs)

    def on_epoch_end(self, epoch, logs=None):
        with writing(self.filename, RESUMES, closing=[self]):
            super().on_epoch_end(epoch + 1, logs)

    def close(self):
        """Close the file; what a failed write left unwritten is dropped."""
        close_quietly([self.csv_file] if self.csv_file is not None else [])


class AdversaryLearningRate(keras.callbacks.Callback):
    """Keep the adversary optimizer's learning rate in a fixed ratio to the main one.

    Keras's learning-rate callbacks (``LearningRateScheduler``, ``ReduceLROnPlateau``)
    move ``model.optimizer`` only. Put this callback *after* them in the list: at the
    start of training it records ``ratio = adversary rate / main rate``, and at the
    start and end of every epoch it sets the adversary rate to ``ratio`` times the main
    rate, so that a schedule or a plateau reduction moves both. (Alternatively, give the
    adversary optimizer a ``keras.optimizers.schedules.LearningRateSchedule`` of its own.)

    Args:
        ratio: the ratio to keep; None takes the one the optimizers start with.

    Raises:
        ValueError: when training starts, if the model has no adversary optimizer or an
            optimizer's learning rate is a schedule rather than a value, or the ratio
            is not finite and positive.
    """

    def __init__(self, ratio: float | None = None):
        super().__init__()
        self.ratio = None if ratio is None else float(ratio)

    def on_train_begin(self, logs=None):
        adversary = getattr(self.model, "adversary_optimizer", None)
        if adversary is None:
            raise ValueError("AdversaryLearningRate: the model has no adversary optimizer (compile it first)")
        for optimizer in (self.model.optimizer, adversary):
            if not isinstance(optimizer.learning_rate, keras.Variable):
                raise ValueError("AdversaryLearningRate: a learning rate is a schedule; give each optimizer a "
                                 "number, or schedule the adversary optimizer directly")
        if self.ratio is None:
            self.ratio = float(adversary.learning_rate.numpy()) / float(self.model.optimizer.learning_rate.numpy())
        if not math.isfinite(self.ratio) or self.ratio <= 0:
            raise ValueError(f"AdversaryLearningRate: ratio must be finite and > 0; got {self.ratio}")

    def _follow(self):
        main = float(self.model.optimizer.learning_rate.numpy())
        self.model.adversary_optimizer.learning_rate.assign(main * self.ratio)

    def on_epoch_begin(self, epoch, logs=None):
        self._follow()

    def on_epoch_end(self, epoch, logs=None):
        self._follow()
