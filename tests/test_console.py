"""What a person reads of a training run: the console and the TensorBoard logs."""

import csv
import io
import json
import re

import numpy as np
import pytest

from disentangle_tf.run import console

#: What TensorFlow's native libraries print when they load and probe devices.
TENSORFLOW_LOG = re.compile(r"^[IWEF]\d{4} |cuInit|oneDNN|cuda drivers|To enable the following instructions|"
                            r"absl::InitializeLog|cpu_feature_guard")


# The tests of the shared run (conftest.cli_run: the default method, 2 epochs) go to one
# worker, which trains it once.
pytestmark = pytest.mark.xdist_group("cli_run")


def test_console_lines_are_short_and_free_of_tensorflow_logs(cli_run):
    _, result = cli_run
    lines = re.split(r"[\r\n]", result.stdout + result.stderr)
    assert max(map(len, lines)) <= 120, max(lines, key=len)
    assert [line for line in lines if TENSORFLOW_LOG.search(line)] == []
    assert result.stderr == ""


def test_console_shows_settings_one_row_per_epoch_and_a_results_table(cli_run):
    out, result = cli_run
    lines = result.stdout.splitlines()
    assert "\r" not in result.stdout  # not a terminal: no bar redrawn in place
    # The default method; on the synthetic shapes no combination can be held out, so it trains the
    # recommended setting and says so.
    assert lines[0].startswith("method    selected: ")
    assert "adversary_steps 2" in lines[0]
    assert "training the configuration as given (independence_weight=10,independence_layers=block_maps)" in " ".join(
        line.strip() for line in lines)
    assert any(line.startswith("data      synthetic") and "images 16x20" in line for line in lines)
    assert any(line.startswith("training  2 epochs") for line in lines)
    assert any(line.startswith("output    ") and str(out) in line for line in lines)
    # Printed before the data are checked, the settings claim no file; only the last lines do.
    assert [line for line in lines if "config.json" in line] == [lines[-2]]
    assert not any('"dataset"' in line for line in lines)  # the configuration is not dumped
    epoch_rows = [line for line in lines if line.startswith("epoch ")]
    assert [row.split()[1] for row in epoch_rows] == ["1/2", "2/2"]
    assert all("background " in row and "shape " in row and " | " in row for row in epoch_rows)
    assert not any("adversary" in row for row in epoch_rows)

    metrics = json.loads((out / "metrics.json").read_text())
    header = lines.index(next(line for line in lines if line.startswith("accuracy ")))
    assert lines[header].split()[:4] == ["accuracy", "images", "background", "shape"]
    # The recommended setting's steps after training, named in a sentence wrapped to the width.
    start = max(k for k in range(header) if lines[k].startswith("results after training"))
    assert " ".join(line.strip() for line in lines[start:header]) == (
        "results after training, with batch-norm statistics recomputed over 30 batches and last layers refitted "
        "on the frozen features:")
    rows = {line.split()[0]: line.split() for line in lines[header + 1:header + 1 + len(metrics)]}
    assert set(rows) == {"val", "test", "unseen"}
    for split, values in metrics.items():
        assert rows[split][1] == str(values["images"])
        assert rows[split][2:4] == [f"{values['accuracy'][t]:.3f}" for t in ("background", "shape")]
    assert lines[-2] == f"wrote {out} (every setting in its config.json)" and lines[-1] == f"tensorboard --logdir {out / 'logs'}"


def _tags(directory):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(directory), size_guidance={"tensors": 0})
    accumulator.Reload()
    return accumulator


def _scalar(accumulator, tag):
    import tensorflow as tf

    return [(event.step, float(tf.make_ndarray(event.tensor_proto))) for event in accumulator.Tensors(tag)]


def test_tensorboard_curves_are_grouped(cli_run):
    out, _ = cli_run
    train, validation = _tags(out / "logs" / "train"), _tags(out / "logs" / "validation")
    for accumulator in (train, validation):
        tags = set(accumulator.Tags()["tensors"])
        for tag in ("1_task/shape_accuracy", "1_task/background_loss", "4_adversary/shape_to_background_accuracy",
                    "2_loss/encoder", "2_loss/adversary", "2_loss/tasks"):
            assert tag in tags, (tag, sorted(tags))
        assert not any(tag.startswith("epoch_") or "/" not in tag for tag in tags), sorted(tags)
    train_tags = set(train.Tags()["tensors"])
    for tag in ("5_optimizer/learning_rate", "5_optimizer/adversary_learning_rate", "3_penalty/lambda",
                "3_penalty/independence_weight", "3_penalty/scale"):
        assert tag in train_tags, (tag, sorted(train_tags))
    config = json.loads((out / "config.json").read_text())
    assert _scalar(train, "5_optimizer/adversary_learning_rate") == [
        (1, pytest.approx(config["adversary_learning_rate"])), (2, pytest.approx(config["adversary_learning_rate"]))]
    assert _scalar(train, "3_penalty/independence_weight") == [(1, 10.0), (2, 10.0)]  # constant schedule

    rows = list(csv.DictReader((out / "logs" / "epochs.csv").open()))
    assert [row["epoch"] for row in rows] == ["1", "2"]
    assert [float(row["val_shape_accuracy"]) for row in rows] == pytest.approx(
        [value for _, value in _scalar(validation, "1_task/shape_accuracy")])
    assert "adversary_shape_to_background_accuracy" in rows[0]


def test_tensorboard_holds_final_results_images_and_hparams(cli_run):
    import tensorflow as tf
    from tensorboard.plugins.hparams import metadata

    out, _ = cli_run
    run = _tags(out / "logs")
    metrics = json.loads((out / "metrics.json").read_text())
    for split in ("val", "test", "unseen"):
        for task in ("background", "shape"):
            assert _scalar(run, f"final/{split}/{task}_accuracy") == [
                (2, pytest.approx(metrics[split]["accuracy"][task]))]
    table = tf.make_ndarray(run.Tensors("final_results")[0].tensor_proto).item().decode()
    header = next(line for line in table.splitlines() if line.startswith("| split |"))
    assert "| background | shape | background->shape | shape->background |" in header
    assert "| unseen | 100 |" in table

    image = run.Tensors("7_data/training_images")
    assert len(image) == 1
    width, height = (int(v) for v in tf.make_ndarray(image[0].tensor_proto)[:2])
    assert (height, width) == (4 * 64 + 3 * 2, 4 * 80 + 3 * 2)  # 16 images of 16x20, enlarged 4 times
    assert run.SummaryMetadata("7_data/training_images").plugin_data.plugin_name == "images"

    content = run.SummaryMetadata(metadata.SESSION_START_INFO_TAG).plugin_data.content
    hparams = metadata.parse_session_start_info_plugin_data(content).hparams
    assert hparams["method"].string_value == "selected"
    assert hparams["epochs"].number_value == 2
    assert hparams["image_size"].string_value == "16,20"
    # What changes what is learned, not how files are read or the machine is used.
    assert hparams["independence_weight"].number_value == 10
    assert not {"separator", "threads", "path_column", "memory_budget", "strategy"} & set(hparams)
    experiment = metadata.parse_experiment_plugin_data(
        run.SummaryMetadata(metadata.EXPERIMENT_TAG).plugin_data.content)
    metric_tags = {info.name.tag for info in experiment.metric_infos}
    assert "final/unseen/shape_accuracy" in metric_tags and "final/test/background_accuracy" in metric_tags


def test_results_table_lists_every_split_and_drops_adversaries_that_do_not_fit():
    metrics = {
        "val": {"images": 30, "accuracy": {"plane": 0.5, "shadow": 0.25},
                "adversary_accuracy": {"plane->shadow": 0.75, "shadow->plane": 0.125}},
        "test-site-b": {"images": 7, "accuracy": {"plane": 1.0}, "adversary_accuracy": {}},
    }
    lines = console.results_table(metrics)
    assert lines[0].split() == ["accuracy", "images", "plane", "shadow", "|", "plane->shadow", "shadow->plane"]
    assert lines[1].split() == ["val", "30", "0.500", "0.250", "|", "0.750", "0.125"]
    assert lines[2].split() == ["test-site-b", "7", "1.000", "-", "|", "-", "-"]

    lines = console.results_table(metrics, width=50)
    assert lines[0].split() == ["accuracy", "images", "plane", "shadow"]
    assert "metrics.json" in lines[-1]
    assert max(map(len, lines)) <= 50


def test_results_table_with_many_tasks_splits_into_tables_that_fit():
    tasks = [f"task_with_a_long_name_{k}" for k in range(8)]
    metrics = {split: {"images": 10, "accuracy": {t: 0.5 for t in tasks}} for split in ("val", "test")}
    lines = console.results_table(metrics)
    assert max(map(len, lines)) <= 120
    headers = [line for line in lines if line.startswith("accuracy")]
    assert len(headers) >= 2
    assert sorted(name for header in headers for name in header.split() if name.startswith("task_")) == tasks
    assert sum(line.startswith("test ") for line in lines) == len(headers)


def test_epoch_row_wraps_many_tasks_within_the_width():
    tasks = [f"task{k}" for k in range(6)]
    logs = {f"{t}_accuracy": 0.5 for t in tasks}
    rows = console.epoch_row(3, 10, 65.0, logs, tasks)
    assert len(rows) > 1 and max(map(len, rows)) <= 120
    assert rows[0].startswith("epoch  3/10  1:05")
    assert " ".join(rows).count("0.500/-") == 6 and rows[1].startswith(" " * len("epoch  3/10  1:05"))


def test_the_line_before_the_results_names_what_changed_the_model_after_the_last_epoch():
    from disentangle_tf.run.config import RunConfig
    from disentangle_tf.run.console import after_training

    def lines(**settings):
        return after_training(RunConfig().replace(settings).training)

    assert lines(precise_batch_norm=0, last_layer_retraining=False) == []
    assert lines(precise_batch_norm=30, last_layer_retraining=False) == [
        "results after training, with batch-norm statistics recomputed over 30 batches:"]
    # Every combination, with many-digit counts: the sentence is whole, ends in ':', and no
    # line is wider than the console's 120 characters (the recommended setting's is 126 long).
    for size in (1, 3, 12345):
        for batches in (0, 30, 987654):
            for refit in (False, True):
                text = lines(ensemble_size=size, precise_batch_norm=batches, last_layer_retraining=refit)
                if size == 1 and not batches and not refit:
                    continue
                assert max(map(len, text)) <= 120 and text[-1].endswith(":")
                joined = " ".join(line.strip() for line in text)
                assert joined.startswith("results after training, with ")
                assert (f"the {size} members' probabilities averaged" in joined) == (size > 1)
                assert (f"recomputed over {batches} batches" in joined) == (batches > 0)
                assert ("last layers refitted on the frozen features" in joined) == refit
    assert lines(ensemble_size=3, precise_batch_norm=30, last_layer_retraining=True) == [
        "results after training, with the 3 members' probabilities averaged, batch-norm statistics recomputed over 30 "
        "batches and",  # 120 characters
        "  last layers refitted on the frozen features:"]


def test_config_summary_is_short_and_names_the_method_settings():
    from disentangle_tf.run.config import RunConfig

    flat = RunConfig().to_flat_dict()
    flat.update(adversarial_weight=0.01, adversary_batches="fresh", epochs=7)
    lines = console.config_summary(flat, "paper", "runs/x")
    assert len(lines) <= 6 and max(map(len, lines)) <= 120
    assert "adversarial_weight 0.01" in lines[0] and "adversary_batches fresh" in lines[0]
    assert "adversarial_objective" not in lines[0]  # the neutral value is not listed
    assert any("7 epochs" in line for line in lines)
    flat.update(epochs=1)
    assert any("1 epoch, " in line for line in console.config_summary(flat, "paper", "runs/x"))


def test_a_selection_s_summary_names_the_keys_its_grid_chooses_not_the_configuration_s_values():
    from disentangle_tf.run.config import RunConfig

    flat = RunConfig().to_flat_dict()
    flat.update(independence_weight=10.0, independence_layers="block_maps", sampling="group_balanced")
    grid = [{"independence_weight": w, "independence_layers": "features"} for w in (0.0, 1.0, 2.0)]
    first = console.config_summary(flat, "selected", "runs/x", grid=grid)[0]
    assert first.startswith("method    selected: independence_weight, independence_layers chosen below from a grid "
                            "of 3; ")
    assert "independence_weight 10" not in first and "block_maps" not in first
    assert "sampling group_balanced" in first  # what the grid does not vary is shown as set


class _Stream(io.StringIO):
    def __init__(self, tty):
        super().__init__()
        self.tty = tty

    def isatty(self):
        return self.tty


def _drive(display, epochs=2, steps=3, initial_epoch=0):
    """Call ``display`` as fit would, with made-up logs."""
    display.set_params({"epochs": epochs, "steps": steps, "verbose": 0})
    display.on_train_begin()
    for epoch in range(initial_epoch, epochs):
        display.on_epoch_begin(epoch)
        for step in range(steps):
            display.on_train_batch_end(step, {"a_accuracy": 0.25, "a_loss": 1.5, "adversary_loss": 9.0})
        display.on_test_begin()
        display.on_epoch_end(epoch, {"a_accuracy": 0.5, "a_loss": 1.0, "val_a_accuracy": 0.75, "val_a_loss": 0.5,
                                     "adversary_loss": 9.0, "best_validation_epoch": 1})
    display.on_train_end()


def test_progress_display_writes_one_row_per_epoch_when_not_a_terminal():
    from disentangle_tf.run.callbacks import ProgressDisplay

    stream = _Stream(tty=False)
    _drive(ProgressDisplay(["a"], stream=stream))
    lines = stream.getvalue().splitlines()
    assert "\r" not in stream.getvalue() and "adversary" not in stream.getvalue()
    assert lines[0] == console.EPOCH_HEADER
    assert [line.split()[:2] for line in lines[1:3]] == [["epoch", "1/2"], ["epoch", "2/2"]]
    assert lines[1].endswith("a 0.500/1.000 | 0.750/0.500")
    assert lines[3] == "kept the weights of epoch 1, the best mean validation accuracy"
    assert len(lines) == 4


@pytest.mark.parametrize("tty", [False, True])
def test_a_run_resumed_with_no_epoch_left_prints_no_epoch_header(tty):
    from disentangle_tf.run.callbacks import ProgressDisplay

    stream = _Stream(tty=tty)
    _drive(ProgressDisplay(["a"], stream=stream), epochs=5, initial_epoch=5)
    assert stream.getvalue() == ""
    stream = _Stream(tty=False)
    _drive(ProgressDisplay(["a"], stream=stream), epochs=5, initial_epoch=4)
    lines = stream.getvalue().splitlines()
    assert lines[0] == console.EPOCH_HEADER and lines[1].split()[:2] == ["epoch", "5/5"]


def test_progress_display_draws_a_bar_on_a_terminal():
    from disentangle_tf.run.callbacks import ProgressDisplay

    stream = _Stream(tty=True)
    _drive(ProgressDisplay(["a"], stream=stream, interval=0.0))
    text = stream.getvalue()
    assert "\r" in text
    drawn = [part.replace("\x1b[K", "") for part in re.split(r"[\r\n]", text)]
    assert "epoch 1/2 [#######.............] 1/3  " in " ".join(drawn)
    assert any(part.startswith("epoch 2/2 [####################] 3/3  validating") for part in drawn)
    assert any(part.startswith("epoch 2/2  0:00   a 0.500/1.000 | 0.750/0.500") for part in drawn)
    assert max(map(len, drawn)) <= 120


def test_tensorboard_tags_are_grouped_by_kind():
    from disentangle_tf.run.summaries import tag_of

    tasks = ["plane", "shadow"]
    assert tag_of("plane_accuracy", tasks) == ("train", "1_task/plane_accuracy")
    assert tag_of("val_shadow_loss", tasks) == ("validation", "1_task/shadow_loss")
    assert tag_of("adversary_plane_to_shadow_loss", tasks) == ("train", "4_adversary/plane_to_shadow_loss")
    assert tag_of("val_adversary_loss", tasks) == ("validation", "2_loss/adversary")
    assert tag_of("loss", tasks) == ("train", "2_loss/tasks")
    assert tag_of("effective_adversarial_weight", tasks) == ("train", "3_penalty/lambda")
    assert tag_of("something_new", tasks) == ("train", "8_other/something_new")


def test_image_grid_rescales_each_image_for_display():
    from disentangle_tf.run.summaries import image_grid

    images = np.stack([np.full((2, 3, 1), 7.0), np.arange(6.0).reshape(2, 3, 1) * 4 - 10,
                       np.arange(6.0).reshape(2, 3, 1)])
    grid = image_grid(images, columns=2, min_height=4, gap=1)
    assert grid.shape == (2 * 4 + 1, 2 * 6 + 1, 1) and grid.dtype == np.float32
    assert np.all(grid[:4, :6] == 0.0)  # a constant image
    np.testing.assert_allclose(grid[:4:2, 7::2, 0], [[0.0, 0.2, 0.4], [0.6, 0.8, 1.0]])
    np.testing.assert_allclose(grid[5::2, :6:2, 0], [[0.0, 0.2, 0.4], [0.6, 0.8, 1.0]])
    assert np.all(grid[4] == 0.5) and np.all(grid[5:, 7:] == 0.5)  # gaps and the empty cell
    with pytest.raises(ValueError, match="images"):
        image_grid(np.zeros((0, 2, 2, 1)))


def test_final_results_are_written_under_the_tags_hparams_names(tmp_path):
    from disentangle_tf.run.summaries import final_tags, write_final_results

    tags = final_tags(["test seen"], ["plane", "shadow"])
    assert tags == ["final/test_seen/plane_accuracy", "final/test_seen/shadow_accuracy"]
    metrics = {"test seen": {"images": 4, "accuracy": {"plane": 0.75},  # no shadow label in this split
                             "adversary_accuracy": {"plane->shadow": 0.5}}}
    write_final_results(tmp_path, metrics, step=3)
    run = _tags(tmp_path)
    assert set(run.Tags()["tensors"]) == {tags[0], "final_results"}
    assert _scalar(run, tags[0]) == [(3, 0.75)]
