"""Keras callbacks of a training run: divergence guard and a backup that keeps it safe."""

from __future__ import annotations

import json
import math
import pathlib

import keras

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
    """``BackupAndRestore`` that never backs up the weights of a diverged run.

    Args:
        backup_dir: where the backup lives.
        guard: the run's :class:`StopOnNonFiniteLoss`; once it has fired, the backup
            is frozen at the last good epoch and kept after training ends.
    """

    def __init__(self, backup_dir: str, guard: StopOnNonFiniteLoss):
        super().__init__(backup_dir=backup_dir, save_freq="epoch", delete_checkpoint=True)
        self.guard = guard

    def _save_model(self):
        if self.guard.diverged is None:
            super()._save_model()

    def on_train_end(self, logs=None):
        if self.guard.diverged is None:
            super().on_train_end(logs)


def backed_up_epoch(backup_dir: str | pathlib.Path) -> int:
    """The number of epochs a backup holds (0 if there is none)."""
    metadata = pathlib.Path(backup_dir) / "training_metadata.json"
    if not metadata.is_file():
        return 0
    return int(json.loads(metadata.read_text())["epoch"])
