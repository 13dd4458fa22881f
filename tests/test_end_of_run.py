"""The end of a training run says what was achieved: the kinds of evaluated split in words,
the headline accuracy, chance levels beside the adversaries, and a line before every step
after the last epoch."""

from __future__ import annotations

import functools
import itertools
import re
import shlex


from disentangle_tf.run import console
from disentangle_tf.run.headline import headline
from disentangle_tf.run.step_notes import StepNotes

#: Scores as evaluate_split gives them, for a synthetic-like run: val and test hold the
#: training combinations, unseen only one absent from training.
METRICS = {
    "val": {"images": 300, "accuracy": {"background": 1.0, "shape": 0.98},
            "true_combinations": {"seen_in_training": 300, "absent_from_training": [], "without_every_label": 0}},
    "test": {"images": 300, "accuracy": {"background": 1.0, "shape": 0.997},
             "adversary_accuracy": {"background->shape": 0.66, "shape->background": 0.5},
             "adversary_chance": {"background->shape": 0.667, "shape->background": 0.5},
             "true_combinations": {"seen_in_training": 300, "absent_from_training": [], "without_every_label": 0}},
    "unseen": {"images": 100, "accuracy": {"background": 0.99, "shape": 0.91},
               "true_combinations": {"seen_in_training": 0, "without_every_label": 0, "absent_from_training": [
                   {"labels": {"background": "black", "shape": "circle"}, "images": 100}]}},
}


def test_the_headline_names_each_kind_of_split_and_the_relevant_task_first():
    assert headline(METRICS, relevant_task="shape", validation="val") == [
        "seen combinations (test): shape 0.997, background 1.000",
        "unseen combination (unseen: shape circle with background black, never in training): "
        "shape 0.910 (headline), background 0.990",
    ]
    # No task named: the tasks keep their order and none is marked; the validation split
    # is named when it is the only split of its kind.
    only_val = {name: METRICS[name] for name in ("val", "unseen")}
    assert headline(only_val, validation="val") == [
        "seen combinations (val): background 1.000, shape 0.980",
        "unseen combination (unseen: background black with shape circle, never in training): "
        "background 0.990, shape 0.910",
    ]


def test_a_split_of_seen_and_unseen_combinations_says_its_share_and_unknown_kinds_are_left_out():
    mixed = {"images": 10, "accuracy": {"plane": 0.5},
             "true_combinations": {"seen_in_training": 6, "without_every_label": 0, "absent_from_training": [
                 {"labels": {"plane": "LVOT", "shadow": "yes"}, "images": 3},
                 {"labels": {"plane": "3VV", "shadow": "yes"}, "images": 1}]}}
    unknown = {"images": 10, "accuracy": {"plane": 0.5}, "true_combinations": None}
    unlabelled = {"images": 10, "accuracy": {"plane": 0.5},
                  "true_combinations": {"seen_in_training": 0, "absent_from_training": [], "without_every_label": 10}}
    lines = headline({"site b": mixed, "old model": unknown, "others": unlabelled}, relevant_task="plane")
    assert lines == ["seen and unseen combinations (site b, 40% of its images on combinations never in training): "
                     "plane 0.500"]
    two = {"unseen": {**METRICS["unseen"], "true_combinations": mixed["true_combinations"] | {"seen_in_training": 0}}}
    assert headline(two, "plane")[0].startswith(
        "unseen combinations (unseen: plane LVOT with shadow yes; plane 3VV with shadow yes, never in training): ")


def test_headline_lines_fit_the_console_and_keep_a_task_with_its_accuracy():
    long = {**METRICS["unseen"], "accuracy": {f"task_{k}": 0.5 for k in range(12)}}
    for sentence in headline({"unseen": long}, relevant_task="task_3"):
        lines = console.sentence_lines(sentence)
        assert len(lines) > 1 and max(map(len, lines)) <= console.WIDTH
        assert all(re.search(r"\btask_\d+$", line) is None for line in lines)  # never a name without its value
        assert " ".join(line.strip() for line in lines) == sentence


def test_the_adversaries_show_their_chance_level_and_the_note_says_which():
    lines = console.results_table(METRICS)
    test = next(line for line in lines if line.startswith("test "))
    assert test.split("|")[1].split() == ["0.660", "(0.667)", "0.500", "(0.500)"]
    unseen = next(line for line in lines if line.startswith("unseen "))
    assert unseen.split("|")[1].split() == ["-", "-"]
    note = " ".join(line.strip() for line in lines[lines.index(unseen) + 1:])
    assert "in brackets, chance: the rate of task b's most frequent class in the split" in note
    assert max(map(len, lines)) <= console.WIDTH


def test_after_the_last_epoch_a_line_comes_before_every_step(tmp_path, monkeypatch, eager_runs):
    import keras

    from disentangle_tf.run import training
    from disentangle_tf.run.config import RunConfig
    from test_training_combinations import TINY_RUN, absent_combination_splits

    events = []

    def traced(name, function):
        def step(*args, **kwargs):
            events.append(f"<{name}>")
            return function(*args, **kwargs)
        return step

    for name in ("precise_batch_norm", "retrain_last_layer", "evaluate_splits", "write_results"):
        monkeypatch.setattr(training, name, traced(name, getattr(training, name)))

    class Epochs(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            events.append(f"<epoch {epoch + 1}>")

    # A clock on which every reading is 6 seconds after the one before: every step is long,
    # and says its progress within (between batches, between splits).
    readings = itertools.count(0.0, 6.0)
    monkeypatch.setattr(training, "StepNotes", functools.partial(StepNotes, clock=lambda: next(readings)))
    config = RunConfig().replace({**TINY_RUN, "epochs": 2, "last_layer_retraining": True})
    result = training.run(config, tmp_path / "run", data=absent_combination_splits(), verbose=2,
                          callbacks=[Epochs()], notify=events.append)
    after = events[events.index("<epoch 2>") + 1:]
    assert after == ["recomputing batch-norm statistics (2 batches)...", "<precise_batch_norm>", "  1 of 2 batches",
                     "refitting the last layers...", "<retrain_last_layer>",
                     "evaluating val, unseen...", "<evaluate_splits>", "  1 of 2 splits",
                     "<write_results>", "exporting...", "writing figures and TensorBoard's results..."]
    assert result.headline[-1].startswith("unseen combination (unseen: b q with a y, never in training): b ")
    assert "(headline)" in result.headline[-1]

    quiet = []
    training.run(config, data=absent_combination_splits(), verbose=0, notify=quiet.append)
    assert quiet == []


def test_a_long_step_says_its_progress_at_least_every_interval():
    now = [100.0]
    lines = []
    notes = StepNotes(lines.append, interval=5.0, clock=lambda: now[0])
    notes("recomputing batch-norm statistics (30 batches)...")
    for k, seconds in enumerate([1.0, 3.0, 2.0, 4.9, 0.2, 9.0, 1.0], start=1):
        now[0] += seconds
        notes.progress(k, 8, "batches")
    now[0] += 60.0
    notes.progress(8, 8, "batches")  # done: the next step's line comes next
    assert lines == ["recomputing batch-norm statistics (30 batches)...", "  3 of 8 batches", "  5 of 8 batches",
                     "  6 of 8 batches"]


def test_the_train_command_ends_with_the_headline_and_a_quoted_tensorboard_line(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from disentangle_tf.cli.train import main
    from disentangle_tf.run import training
    from disentangle_tf.run.result import RunResult

    def finished(config, output_dir=None, **kwargs):
        output_dir.mkdir(parents=True)
        return RunResult(model=None, metrics=METRICS, history={}, output_dir=output_dir, relevant_task="shape",
                         headline=headline(METRICS, "shape", "val"))

    monkeypatch.setattr(training, "run", finished)
    out = tmp_path / "runs with spaces" / "it's here"
    result = CliRunner().invoke(main, ["--dataset", "synthetic", "--epochs", "1", "--output-dir", str(out)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    # The default method says in a wrapped line why it trains the configuration as given.
    said = [line for line in lines if line.startswith("held-out-combination selection: no combination")]
    assert len(said) == 1
    first = lines.index("seen combinations (test): shape 0.997, background 1.000")
    assert lines[first - 1].startswith("  task b's most frequent class")  # right after the table's notes
    assert " ".join(line.strip() for line in lines[first + 1:-2]) == (
        "unseen combination (unseen: shape circle with background black, never in training): "
        "shape 0.910 (headline), background 0.990")
    assert lines[-2] == f"wrote {out} (every setting in its config.json)"
    assert shlex.split(lines[-1]) == ["tensorboard", "--logdir", str(out / "logs")]
    assert max(len(line) for line in lines if str(tmp_path) not in line) <= console.WIDTH  # but the long path
