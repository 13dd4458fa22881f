"""logs/epochs.csv of a resumed run: one row per epoch."""

from __future__ import annotations

import csv

from disentangle_tf.run.callbacks import EpochLog


def _epochs(path):
    with open(path) as handle:
        return [int(row["epoch"]) for row in csv.DictReader(handle)]


def test_a_resumed_run_drops_the_rows_logged_after_its_backup(tmp_path):
    path = tmp_path / "epochs.csv"
    # An interrupted run logged epochs 1-3 (and a torn last line) but resumes from the backup of epoch 1.
    path.write_text("epoch,loss\n1,0.9\n2,0.8\n3,0.7\n4,0.")
    log = EpochLog(path, resumed_after=1)
    log.on_train_begin()
    for epoch in (1, 2, 3):  # Keras counts epochs from 0: these are epochs 2, 3 and 4
        log.on_epoch_end(epoch, {"loss": 0.5})
    log.on_train_end()
    assert _epochs(path) == [1, 2, 3, 4]
    with open(path) as handle:
        rows = list(csv.DictReader(handle))
    assert rows[0]["loss"] == "0.9" and all(float(r["loss"]) == 0.5 for r in rows[1:])


def test_a_fresh_log_keeps_nothing_and_a_complete_one_everything(tmp_path):
    path = tmp_path / "epochs.csv"
    log = EpochLog(path)
    log.on_train_begin()
    log.on_epoch_end(0, {"loss": 1.0})
    log.on_train_end()
    assert _epochs(path) == [1]
    log = EpochLog(path, resumed_after=1)
    log.on_train_begin()
    log.on_epoch_end(1, {"loss": 0.9})
    log.on_train_end()
    assert _epochs(path) == [1, 2]
