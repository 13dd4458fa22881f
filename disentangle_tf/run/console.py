"""What a training run prints: its settings, one row per epoch, and the results table.

Pure text, no TensorFlow: ``python -m disentangle_tf.train`` prints the settings before
TensorFlow loads. Every line is at most :data:`WIDTH` characters; a row too wide for it
goes on over indented continuation lines (a table, over several tables).
"""

from __future__ import annotations

import math
import re
import textwrap
from typing import Mapping, Sequence

from .headline import chance_note
from .methods import NEUTRAL

#: The widest line printed (characters).
WIDTH = 120

#: Header of the epoch rows: what the numbers after each task's name are.
EPOCH_HEADER = "per task: accuracy/loss on training | on validation"


def wrap(text: str, width: int = WIDTH, indent: str = "  ") -> list[str]:
    """``text`` broken at spaces into lines of at most ``width`` characters.

    Continuation lines start with ``indent``; a single word longer than ``width`` (a
    long path) is kept whole.
    """
    return textwrap.wrap(text, width=width, subsequent_indent=indent, break_long_words=False,
                         break_on_hyphens=False) or [""]


def _value(value) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return ",".join(_value(v) for v in value) or "none"
    return str(value)


def method_settings(flat_config: Mapping) -> list[str]:
    """``"key value"`` for every setting a method decides whose value is not the neutral one.

    The neutral values (:data:`disentangle_tf.run.methods.NEUTRAL`: no penalty, uniform
    sampling, ...) are left out, so that what is listed is what makes the run's method.
    """
    return [f"{key} {_value(flat_config[key])}" for key in NEUTRAL
            if key in flat_config and flat_config[key] != NEUTRAL[key]]


def config_summary(flat_config: Mapping, method: str | None, output_dir, width: int = WIDTH,
                   grid: Sequence[Mapping] = ()) -> list[str]:
    """The run's settings in a few lines: method, data, training, output directory.

    Args:
        flat_config: :meth:`~disentangle_tf.run.config.RunConfig.to_flat_dict` of the
            resolved configuration.
        method: the method's name (``--method``), or None.
        grid: the points a selection chooses from (``--method selected``): the keys they
            vary are named as chosen from the grid, not shown at the configuration's value.
        output_dir: where the run writes; its ``config.json`` holds every setting.
        width: the widest line (characters).

    Returns:
        Lines of at most ``width`` characters (but for a single word longer than that).
    """
    c = flat_config
    varied = list(dict.fromkeys(key for point in grid for key in point))
    settings = ", ".join(s for s in method_settings(c) if s.split(" ", 1)[0] not in varied)
    if varied:
        settings = f"{', '.join(varied)} chosen below from a grid of {len(grid)}" + (f"; {settings}" if settings else "")
    settings = settings or "no penalty, uniform sampling"
    data = c["dataset"]
    if c.get("data"):
        data += f" {c['data']}"
    if c.get("tasks"):
        data += f", tasks {', '.join(c['tasks'])}"
    height, width_px = c["image_size"]
    channels = c.get("channels", 1)
    data += f", images {height}x{width_px}" + (f"x{channels}" if channels != 1 else "")
    if c["dataset"] == "us-sim" and c.get("shadow_salience", 1.0) != 1.0:
        data += f", shadow salience {_value(c['shadow_salience'])}"
    data += f", batch {c['batch_size']}, seed {c['seed']}"
    training = (f"{c['epochs']} epoch{'' if c['epochs'] == 1 else 's'}, learning rate {_value(c['learning_rate'])} "
                f"(adversaries {_value(c['adversary_learning_rate'])}), strategy {c['strategy']}")
    lines = [
        f"method    {method or 'custom'}: {settings}",
        f"data      {data}",
        f"training  {training}",
        f"output    {output_dir}",
    ]
    return [part for line in lines for part in wrap(line, width, indent=" " * 10)]


def _number(value, digits: int = 3) -> str:
    if value is None:
        return "-"
    value = float(value)
    if not math.isfinite(value):
        return str(value)
    return f"{value:.{digits}f}"


def _duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def task_cells(logs: Mapping, task_names: Sequence[str], validation: bool = True) -> list[str]:
    """``"<task> acc/loss | val acc/loss"`` for every task, from Keras's epoch or batch logs.

    A value the logs lack (no validation yet, a task without labels) shows as ``-``.
    """
    cells = []
    for task in task_names:
        cell = f"{task} {_number(logs.get(f'{task}_accuracy'))}/{_number(logs.get(f'{task}_loss'))}"
        if validation:
            cell += f" | {_number(logs.get(f'val_{task}_accuracy'))}/{_number(logs.get(f'val_{task}_loss'))}"
        cells.append(cell)
    return cells


def fit_cells(prefix: str, cells: Sequence[str], width: int = WIDTH, gap: str = "   ") -> list[str]:
    """``prefix`` and ``cells`` on one line, or on several indented lines when too wide."""
    lines, line = [], prefix
    for cell in cells:
        candidate = f"{line}{gap}{cell}" if line.strip() else line + cell
        if len(candidate) > width and line.strip():
            lines.append(line)
            candidate = " " * len(prefix) + gap + cell
        line = candidate
    lines.append(line)
    return lines


def epoch_row(epoch: int, epochs: int, seconds: float, logs: Mapping, task_names: Sequence[str],
              width: int = WIDTH) -> list[str]:
    """One epoch's task accuracies and losses, training and validation (:data:`EPOCH_HEADER`).

    Args:
        epoch: the epoch, counted from 1.
        epochs: the number of epochs of the run.
        seconds: the epoch's wall time.
        logs: Keras's epoch logs (``<task>_accuracy``, ``val_<task>_loss``, ...).
        task_names: the tasks, in the model's order.
        width: the widest line (characters).

    Returns:
        One line, or more when the tasks do not fit in ``width``.

    Example:

    >>> epoch_row(2, 15, 3.2, {"shape_accuracy": 0.9, "shape_loss": 0.25}, ["shape"])
    ['epoch  2/15  0:03   shape 0.900/0.250 | -/-']
    """
    digits = len(str(epochs))
    prefix = f"epoch {epoch:>{digits}}/{epochs}  {_duration(seconds)}"
    return fit_cells(prefix, task_cells(logs, task_names), width)


def progress_bar(epoch: int, epochs: int, step: int, steps: int | None, seconds: float, logs: Mapping,
                 task_names: Sequence[str], width: int = WIDTH, note: str = "") -> str:
    """A one-line progress bar of the current epoch with the running training values.

    Cut to ``width`` characters. ``note`` replaces the time left (e.g. ``validating``).
    """
    digits = len(str(epochs))
    if steps:
        done = min(step / steps, 1.0)
        bar = "#" * int(round(20 * done))
        left = note or f"{_duration(seconds / step * (steps - step)) if step else '?'} left"
        line = f"epoch {epoch:>{digits}}/{epochs} [{bar:.<20}] {step:>{len(str(steps))}}/{steps}  {left}"
    else:
        line = f"epoch {epoch:>{digits}}/{epochs}  step {step}  {note or _duration(seconds)}"
    cells = task_cells(logs, task_names, validation=False)
    return (line + "   " + "   ".join(cells))[:width]


def results_table(metrics: Mapping, width: int = WIDTH) -> list[str]:
    """Accuracy of every task (columns) on every evaluated split (rows), at most ``width`` wide.

    The adversaries' accuracies (``features_task->label_task``) are further columns when
    the whole table fits in ``width``, each followed in brackets by its chance level
    where the scores have one (``adversary_chance``: the rate of the label task's most
    frequent class in the split); otherwise a last line says where they are. Tasks too
    many for one table are split over several, each repeating the split column.

    Args:
        metrics: per split, :func:`~disentangle_tf.evaluation.evaluate.evaluate_split`'s result
            (``images``, ``accuracy``, ``adversary_accuracy``, ``adversary_chance``), as in
            ``metrics.json``.
        width: the widest line (characters).

    Returns:
        The table's lines; a task a split has no labels for shows ``-``.

    Example:

    >>> print("\\n".join(results_table({"test": {"images": 300, "accuracy": {"shape": 0.99}}})))
    accuracy  images  shape
    test         300  0.990
    """
    splits = list(metrics)
    tasks = list(dict.fromkeys(t for s in splits for t in metrics[s].get("accuracy", {})))
    pairs = list(dict.fromkeys(p for s in splits for p in metrics[s].get("adversary_accuracy", {})))
    first = max([len("accuracy"), *map(len, splits)])

    def column(header, key, name):
        cells = [_number(metrics[s].get(key, {}).get(name)) for s in splits]
        if key == "adversary_accuracy":  # with the chance level, where known
            chances = [metrics[s].get("adversary_chance", {}).get(name) for s in splits]
            cells = [cell + ("" if chance is None or cell == "-" else f" ({_number(chance)})")
                     for cell, chance in zip(cells, chances)]
        return header, max([len(header), *map(len, cells)]), cells

    images = ("images", max(len("images"), *(len(str(metrics[s].get("images", "-"))) for s in splits)),
              [str(metrics[s].get("images", "-")) for s in splits])
    task_columns = [column(t, "accuracy", t) for t in tasks]
    pair_columns = [column(p, "adversary_accuracy", p) for p in pairs]

    def line_width(columns):
        return first + sum(2 + w for _, w, _ in columns)

    note = []
    columns = [images, *task_columns]
    if pair_columns and line_width([*columns, *pair_columns]) + 2 <= width:
        columns = [*columns, ("|", 1, ["|"] * len(splits)), *pair_columns]
        chance = chance_note(metrics)
        note = ["(a->b: the accuracy of the adversary that predicts task b from the features of task a"
                + (f"; {chance})" if chance else ")")]
    elif pair_columns:
        note = ["(the adversaries' accuracies are in metrics.json)"]
    tables, current = [], []
    for col in columns:  # split the columns into tables that fit
        if current and line_width([*current, col]) > width:
            tables.append(current)
            current = [images]
        current.append(col)
    tables.append(current)
    lines = []
    for table in tables:
        lines.append("  ".join(["accuracy".ljust(first), *(h.rjust(w) for h, w, _ in table)]))
        for row, split in enumerate(splits):
            lines.append("  ".join([split.ljust(first), *(cells[row].rjust(w) for _, w, cells in table)]))
    return lines + [text for line in note for text in wrap(line, width)]


def sentence_lines(sentence: str, width: int = WIDTH) -> list[str]:
    """A sentence of :func:`~disentangle_tf.run.headline.headline` in lines of at most
    ``width`` characters, never breaking between a task and its accuracy."""
    kept = re.sub(r"(\S+) (\d\.\d{3})( \(headline\))?",
                  lambda m: m.group(0).replace(" ", "\xa0"), sentence)  # textwrap breaks at ASCII spaces only
    return [line.replace("\xa0", " ") for line in wrap(kept, width)]


def after_training(training, width: int = WIDTH) -> list[str]:
    """The lines that say what changed the model between the last epoch's display and the
    results (recomputed batch-norm statistics, refitted last layers, an ensemble), ending
    in ``:``, each at most ``width`` characters; none if nothing did."""
    steps = []
    if training.ensemble_size > 1:
        steps.append(f"the {training.ensemble_size} members' probabilities averaged")
    if training.precise_batch_norm:
        steps.append(f"batch-norm statistics recomputed over {training.precise_batch_norm} batches")
    if training.last_layer_retraining:
        steps.append("last layers refitted on the frozen features")
    if not steps:
        return []
    return wrap("results after training, with " + ", ".join(steps[:-1]) + (" and " if len(steps) > 1 else "")
                + steps[-1] + ":", width)
