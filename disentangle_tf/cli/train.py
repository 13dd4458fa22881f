"""``python -m disentangle_tf.train``: train a Disentangler and export it.

Example::

    python -m disentangle_tf.train --dataset synthetic --epochs 15 --output-dir runs/demo

Settings resolve in this order: defaults (:mod:`disentangle_tf.run.config`), then the
``--config`` file, then the ``--set KEY=VALUE`` options, then the named options given on
the command line.
"""

from __future__ import annotations

import datetime
import pathlib
import shlex
import sys

import click

from .common import INTERRUPTED, USAGE_ERROR, UserError, interrupt_on_termination, quiet_tensorflow
from ..experiments.former_methods import FORMER_METHODS, former_row_message
from ..run.config import CHOICES
from ..run.console import after_training, config_summary, results_table, sentence_lines
from ..run.distribution import make_strategy
from ..run.methods import METHODS, SELECTION_GRID
from ..selection.grid import HELD_OUT_COMBINATION, RULES
from ..run.outputs import check_output_dir, is_resumable
from ..run.run_settings import resolve_config

#: Command-line options that map one to one onto configuration keys.
MANIFEST_OPTIONS = (
    "data", "image_root", "layout", "tasks", "path_column", "split_column", "train_split",
    "val_split", "test_split", "validation_fraction", "group_column", "separator", "extension", "channels",
    "missing_labels", "memory_budget",
)
DATA_OPTIONS = MANIFEST_OPTIONS + ("scale",)

CONFIG_OPTIONS = DATA_OPTIONS + (
    "dataset", "image_size", "batch_size", "flip", "sampling", "seed",
    "feature_pooling", "head_units",
    "epochs", "learning_rate", "adversary_learning_rate", "adversarial_weight",
    "adversary_steps", "adversary_batches", "adversarial_objective", "independence_weight",
    "independence_bandwidth", "adversarial_training", "penalty_schedule", "independence_layers", "restore_best_weights",
    "precise_batch_norm", "last_layer_retraining", "ensemble_size", "conditional_adversaries",
    "jit_compile", "strategy", "deterministic", "threads",
)


DEFAULT_METHOD = "recommended"

#: ``--help`` of ``--set`` (the train and reproduce commands).
SET_HELP = ("Any configuration key, as in the --config file, its value read as YAML: --set epochs=3, "
            "--set image_size=[32,32], --set flip=false (repeat for several keys). It replaces the --config "
            "file's value; a named option (--epochs) replaces it.")

#: ``--selection``: train the configuration as given, or choose from a grid first.
SELECTIONS = ("none", *RULES)


def _shown(value) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    return f"{value:g}" if isinstance(value, float) else str(value)


class RecordedRow(click.ClickException):
    """``--method`` given a row of a recorded comparison: one ``Error:`` line, exit code 2."""

    exit_code = USAGE_ERROR


class MethodChoice(click.Choice):
    """``--method``: one of :data:`~disentangle_tf.run.methods.METHODS`. A row of
    :data:`~disentangle_tf.experiments.former_methods.FORMER_METHODS` is refused with the
    command that runs it, a name of neither as click refuses any choice."""

    def convert(self, value, param, context):
        if value in FORMER_METHODS and value not in self.choices:
            raise RecordedRow(f"--method {former_row_message(value)}")
        return super().convert(value, param, context)


def method_default(key: str) -> str:
    """``--help``'s default of a setting the method decides: its value under the default
    method and, where it differs, under ``--method paper``."""
    value, paper = (METHODS[name].settings[key] for name in (DEFAULT_METHOD, "paper"))
    text = f"[default: {_shown(value)}"
    return text + (f"; --method paper: {_shown(paper)}]" if paper != value else "]")


#: The options ``--help`` shows: what most runs need. ``--help-all`` shows every one; every
#: configuration key is also settable with ``--set KEY=VALUE`` or in a ``--config`` file.
SHOWN_OPTIONS = (
    "dataset", "data", "tasks", "test_split", "layout", "image_size", "seed", "config_file", "method", "settings",
    "selection", "epochs", "batch_size", "adversarial_weight", "independence_weight", "independence_layers",
    "strategy", "deterministic", "output_dir", "overwrite", "quiet", "verbose", "help_all",
)


def _help_all(context, value) -> None:
    """``--help-all``: the help with every option shown."""
    if not value or context.resilient_parsing:
        return
    hidden = [parameter for parameter in context.command.params if parameter.hidden]
    for parameter in hidden:
        parameter.hidden = False
    try:
        text = context.get_help()
    finally:
        for parameter in hidden:
            parameter.hidden = True
    click.echo(text)
    context.exit()


def default_output_dir(dataset: str, config_json: str, runs: pathlib.Path = pathlib.Path("runs")) -> pathlib.Path:
    """``runs/DATASET-TIMESTAMP``; or, so that the same command resumes a killed run, the
    newest ``runs/DATASET-*`` holding an interrupted run with exactly this configuration."""
    if runs.is_dir():
        earlier = sorted((d for d in runs.glob(f"{dataset}-*") if d.is_dir()), reverse=True)
        for candidate in earlier:
            if is_resumable(candidate, config_json):
                return candidate
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    return runs / f"{dataset}-{stamp}"


def _apply(command, options):
    for option in reversed(options):
        command = option(command)
    return command


def manifest_options(command):
    """The options that read a manifest (shared with the convert and reproduce commands)."""
    return _apply(command, [
        click.option("--data", type=click.Path(dir_okay=False), help="The manifest (csv) or HDF5 file (hdf5)."),
        click.option("--image-root", type=click.Path(file_okay=False),
                     help="Directory of the manifest's image paths (default: the manifest's directory)."),
        click.option("--layout", type=click.Choice(CHOICES["layout"]),
                     help="Manifest layout; fetal_planes_db reads FETAL_PLANES_DB_data.csv as released."),
        click.option("--task", "tasks", multiple=True,
                     help="A manifest column that is a task (repeat for several tasks); NAME=COLUMN names "
                          "the task of a column whose name is not one (letters, digits, _)."),
        click.option("--path-column", help="Manifest column of image paths.  [default: path]"),
        click.option("--split-column", help="Manifest column of splits.  [default: split]"),
        click.option("--train-split", help="Split value of training rows.  [default: train]"),
        click.option("--val-split", help="Split value of validation rows.  [default: val]"),
        click.option("--test-split", multiple=True, callback=lambda context, parameter, values: values or None,
                     help="Split value of evaluation rows, evaluated and reported under its own name "
                          "(repeat for several).  [default: test]"),
        click.option("--missing-labels", type=click.Choice(CHOICES["missing_labels"]),
                     help="A label cell that is empty or NA: refuse it, or allow it (the image has no label "
                          "for that task).  [default: refuse]"),
        click.option("--validation-fraction", type=float,
                     help="Hold out this fraction of training rows for validation instead."),
        click.option("--group-column",
                     help="Manifest column naming each image's group (patient): held-out validation "
                          "takes whole groups.  [default: none; Patient_num for fetal_planes_db]"),
        click.option("--separator", help="Manifest field separator.  [default: ,]"),
        click.option("--extension", help="Appended to image paths that lack it, e.g. .png."),
        click.option("--channels", type=int, help="1 (greyscale) or 3: a manifest's images are converted to it, "
                                                  "an HDF5 file's must have it.  [default: 1]"),
        click.option("--memory-budget", metavar="SIZE",
                     help="Decoded images a manifest or HDF5 file may hold in memory (8GiB, 500MB, bytes; "
                          "unlimited); larger splits are streamed from their files.  [default: auto, half "
                          "the memory]"),
    ])


def data_options(command):
    """The options that choose and read a data set (shared with the convert command)."""
    return _apply(manifest_options(command), [
        click.option("--dataset", type=click.Choice(CHOICES["dataset"]),
                     help="Data set: synthetic shapes, simulated fetal ultrasound, handwritten digits with "
                          "a shadow or a photograph behind them, a CSV manifest or an HDF5 file.  "
                          "[default: synthetic]"),
        click.option("--scale", type=float, help="Size of us-sim relative to the paper's Table 1.  [default: 0.5]"),
        click.option("--image-size", type=(int, int), metavar="H W",
                     help="Image height and width: the model's input (convert: the stored images').  "
                          "[default: 56 72]"),
        click.option("--seed", type=int, help="Seed of the generated data sets and the validation carve-out; "
                                              "in training also of initialisation and shuffling.  [default: 0]"),
        click.option("--config", "config_file", type=click.Path(dir_okay=False),
                     help="YAML or JSON file whose keys mirror these options (image_size for --image-size)."),
    ])


@click.command(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@data_options
@click.option("--method", type=MethodChoice(tuple(METHODS)), default=DEFAULT_METHOD, show_default=True,
              help="Named settings (docs/method.rst): recommended was chosen on, and generalises on, the synthetic "
                   "shapes; selected chooses the penalty on your training data (docs/generalisation.rst); paper is "
                   "the paper's method as published. The config file and options override them.")
@click.option("--set", "settings", multiple=True, metavar="KEY=VALUE", help=SET_HELP)
@click.option("--selection", type=click.Choice(SELECTIONS), default="none", show_default=True,
              help="held-out-combination: first choose the penalty's weight and place from a grid of four by "
                   "training without combinations of labels that stand in for an unseen one (eight more "
                   "trainings); least-leakage: by the features' within-class leakage on the validation split "
                   "(four more); docs/generalisation.rst. --method selected implies held-out-combination.")
@click.option("--epochs", type=int, help="Passes over the training split.  [default: 15]")
@click.option("--batch-size", type=int, help="Images per main step.  [default: 50]")
@click.option("--adversarial-weight", type=float, help="lambda of Eq. 1.  " + method_default("adversarial_weight"))
@click.option("--adversary-steps", type=int,
              help="Adversary updates per main update.  " + method_default("adversary_steps"))
@click.option("--adversary-batches", type=click.Choice(CHOICES["adversary_batches"]),
              help="Fresh batches for each adversary step, or reuse the main batch.  "
                   + method_default("adversary_batches"))
@click.option("--adversarial-objective", type=click.Choice(CHOICES["adversarial_objective"]),
              help="What the encoders do to the adversaries.  " + method_default("adversarial_objective"))
@click.option("--independence-weight", type=float,
              help="Weight of the class-conditional HSIC penalty between each task's features and "
                   "the other tasks' labels (0: off, the paper).  " + method_default("independence_weight"))
@click.option("--independence-bandwidth", type=click.Choice(CHOICES["independence_bandwidth"]),
              help="Median bandwidth of the penalty's kernel, within each class or over the batch.  "
                   "[default: class]")
@click.option("--independence-layers", type=click.Choice(CHOICES["independence_layers"]),
              help="The independence penalty reads the encoders' features, also every residual block's "
                   "averaged output (blocks), also every block's output map on a 2 x 2 grid of cells "
                   "(block_maps), or both (block_pyramid).  " + method_default("independence_layers"))
@click.option("--adversarial-training", type=click.Choice(CHOICES["adversarial_training"]),
              help="Alternating updates (the paper) or a gradient reversal layer.  "
                   + method_default("adversarial_training"))
@click.option("--penalty-schedule", type=click.Choice(CHOICES["penalty_schedule"]),
              help="Warm-up of lambda and the independence weight (dann: 2/(1+exp(-10p))-1).  "
                   + method_default("penalty_schedule"))
@click.option("--conditional-adversaries/--no-conditional-adversaries", default=None,
              help="Adversaries also read the one-hot label of the features' own task.  "
                   + method_default("conditional_adversaries"))
@click.option("--restore-best-weights/--no-restore-best-weights", default=None,
              help="Keep the epoch with the best mean validation accuracy of the tasks instead of the last.  "
                   + method_default("restore_best_weights"))
@click.option("--precise-batch-norm", type=int, metavar="BATCHES",
              help="After training, recompute the batch-norm statistics over this many training batches with "
                   "the final weights (0: off).  " + method_default("precise_batch_norm"))
@click.option("--last-layer-retraining/--no-last-layer-retraining", default=None,
              help="After training, refit each classifier's last layer on the frozen features of the training "
                   "split (class-balanced logistic regression).  " + method_default("last_layer_retraining"))
@click.option("--ensemble-size", type=int, metavar="MODELS",
              help="Train this many models from different seeds on the same data and average their "
                   "probabilities (a deep ensemble; each model costs a whole run).  "
                   + method_default("ensemble_size"))
@click.option("--learning-rate", type=float, help="Adam learning rate.  [default: 1e-3]")
@click.option("--adversary-learning-rate", type=float, help="Adversary SGD learning rate.  [default: 1e-2]")
@click.option("--feature-pooling", type=click.Choice(CHOICES["feature_pooling"]),
              help="How the last feature map becomes features.  [default: average]")
@click.option("--head-units", type=int, multiple=True, help="Hidden units of a head layer (repeat for more layers).")
@click.option("--sampling", type=click.Choice(CHOICES["sampling"]),
              help="Training batches: every image once per epoch, or every combination of task labels "
                   "equally often.  " + method_default("sampling"))
@click.option("--flip/--no-flip", default=None, help="Random left-right flips.  [default: flip]")
@click.option("--jit-compile/--no-jit-compile", default=None, help="Compile the step with XLA.")
@click.option("--strategy", type=click.Choice(CHOICES["strategy"]),
              help="tf.distribute strategy; multi-worker reads TF_CONFIG.  [default: one-device]")
@click.option("--deterministic/--no-deterministic", default=None,
              help="Deterministic ops: a resumed run ends as an uninterrupted one.")
@click.option("--threads", type=click.Choice(CHOICES["threads"]),
              help="CPU thread pools: auto splits the cores between the tasks' encoders (no GPU); "
                   "tensorflow keeps TensorFlow's defaults.  [default: auto]")
@click.option("--output-dir", type=click.Path(file_okay=False, path_type=pathlib.Path),
              help="Where to write the run.  [default: runs/DATASET-TIMESTAMP]")
@click.option("--overwrite", is_flag=True,
              help="Replace an earlier run's files in --output-dir. Without it, an interrupted run "
                   "in --output-dir with the same configuration resumes from its last backup.")
@click.option("--help-all", is_flag=True, expose_value=False, is_eager=True, callback=lambda context, _, value:
              _help_all(context, value), help="Show every option (the others are settable with --set too) and exit.")
@click.option("--quiet", is_flag=True, help="No progress display: the settings and the results only.")
@click.option("-v", "--verbose", is_flag=True,
              help="Also TensorFlow's own log lines (device probing, CPU instructions); "
                   "TF_CPP_MIN_LOG_LEVEL=0 does the same.")
def main(config_file, method, selection, settings, output_dir, overwrite, quiet, verbose, **options):
    """Train a Disentangler (Meng et al., 2019) and export it for inference.

    The options most runs need are listed here; --help-all lists every one, and --set KEY=VALUE
    sets any configuration key.
    """
    options["head_units"] = options["head_units"] or None
    options["tasks"] = options["tasks"] or None
    config = resolve_config(config_file, {key: options[key] for key in CONFIG_OPTIONS}, method, set_options=settings)
    output_dir = output_dir or default_output_dir(config.data.dataset, config.to_json())
    # Before the settings are shown, so that a refused directory is the only line printed;
    # it writes nothing: the data are checked (and then the directory made) by the run.
    check_output_dir(output_dir, overwrite, config.to_json())
    for line in config_summary(config.to_flat_dict(), method, output_dir):
        click.echo(line)

    def start_tensorflow():
        # The strategy comes first: a multi-worker one must be made at program start.
        return make_strategy(config.training.strategy)

    try:
        strategy = quiet_tensorflow(start_tensorflow, verbose)  # TensorFlow loads here, after the checks
    except ValueError as error:
        raise UserError(str(error)) from None
    from ..run.training import run

    points = METHODS[method].points or (SELECTION_GRID if selection != "none" else ())
    rule = METHODS[method].selection or (HELD_OUT_COMBINATION if selection == "none" else selection)
    try:
        with interrupt_on_termination():
            arguments = dict(output_dir=output_dir, overwrite=overwrite, verbose=0 if quiet else "auto",
                             strategy=strategy, notify=click.echo, hparams={"method": method})
            if points:
                from ..selection.selected_run import run_selected

                result, chosen = run_selected(config, points, echo=click.echo, rule=rule, **arguments)
            else:
                result, chosen = run(config, **arguments), None
    except KeyboardInterrupt:
        # The backup of the last finished epoch is intact (run.backup): say how to go on.
        click.echo(f"\ninterrupted: the same command resumes after the last finished epoch "
                   f"(or --output-dir {output_dir})", err=True)
        sys.exit(INTERRUPTED)
    click.echo()
    for line in [*after_training(config.training), *results_table(result.metrics)]:
        click.echo(line)
    for sentence in result.headline:  # what was achieved, in words
        for line in sentence_lines(sentence):
            click.echo(line)
    if chosen is not None:
        click.echo(f"expected {chosen.estimate.relevant} accuracy on an unseen combination: "
                   f"{chosen.estimate.estimate:.3f} (held-out-combination estimate, selection.json)")
    click.echo(f"wrote {output_dir} (every setting in its config.json)")
    click.echo(f"tensorboard --logdir {shlex.quote(str(output_dir / 'logs'))}")


for _parameter in main.params:  # the others stay settable, and listed by --help-all
    if isinstance(_parameter, click.Option) and _parameter.name not in SHOWN_OPTIONS:
        _parameter.hidden = True
