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
from .config_options import (CONFIG_OPTIONS, DATA_OPTIONS, MANIFEST_OPTIONS, config_options,  # noqa: F401
                             data_options, manifest_options)
from ..experiments.former_methods import FORMER_METHODS, former_row_message
from ..run.console import after_training, config_summary, results_table, sentence_lines, wrap
from ..run.datasets import check_data_source
from ..run.distribution import make_strategy
from ..run.methods import METHODS, SELECTION_GRID
from ..run.option_text import DEFAULT_METHOD
from ..run.options import OPTIONS, keys_of
from ..selection.grid import RULES, point_label, points_with
from ..run.outputs import BACKUP_NAME, check_output_dir, is_resumable
from ..run.run_settings import resolve_config_and_given

#: ``--help`` of ``--set`` (the train and reproduce commands).
SET_HELP = ("Any configuration key, as in the --config file, its value read as YAML: --set epochs=3, "
            "--set image_size=[32,32], --set flip=false (repeat for several keys). It replaces the --config "
            "file's value; a named option (--epochs) replaces it.")

#: ``--selection``: train the configuration as given, or choose from a grid first.
SELECTIONS = ("none", *RULES)


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


#: The options ``--help`` shows: what most runs need. ``--help-all`` shows every one; every
#: configuration key is also settable with ``--set KEY=VALUE`` or in a ``--config`` file.
SHOWN_OPTIONS = tuple(option.key for option in OPTIONS if option.shown) + (
    "config_file", "method", "settings", "selection", "output_dir", "overwrite", "quiet", "verbose", "help_all",
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


@click.command(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@data_options
@click.option("--method", type=MethodChoice(tuple(METHODS)), default=DEFAULT_METHOD, show_default=True,
              help="Named settings (docs/method.rst). selected: the recommended setting with the penalty's weight "
                   "and place chosen on your training data by held-out-combination validation (eight trainings "
                   "more, where a combination of labels can stand in for an unseen one; otherwise the recommended "
                   "setting as it is); on the three data sets where it chose it kept the seen accuracy, where "
                   "recommended, chosen on the synthetic shapes, cost 6 to 17 points of it (docs/generalisation.rst). "
                   "recommended trains once. paper: "
                   "the paper's method as published. The config file and options override them.")
@click.option("--set", "settings", multiple=True, metavar="KEY=VALUE", help=SET_HELP)
@click.option("--selection", type=click.Choice(SELECTIONS),
              help="held-out-combination: first choose the penalty's weight and place from a grid of four by "
                   "training without combinations of labels that stand in for an unseen one (eight more "
                   "trainings); least-leakage: by the features' within-class leakage on the validation split "
                   "(four more); none: train the settings once; docs/generalisation.rst.  [default: "
                   "held-out-combination under --method selected, least-leakage under selected by leakage, none "
                   "under the others]")
@config_options(keys_of(command="train"))
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
    options = {key: options[key] for key in CONFIG_OPTIONS}
    config, given = resolve_config_and_given(config_file, options, method, set_options=settings)
    named = METHODS[method]
    rule = selection or named.selection or "none"  # an explicit --selection replaces the method's
    grid = (named.points or SELECTION_GRID) if rule != "none" else ()
    # A value the user gave replaces the method's, its grid's included: the grid keeps the
    # points that have it, and one point left is trained without a selection.
    flat = config.to_flat_dict()
    fixed = {key: flat[key] for key in given if any(key in p for p in grid)}
    left = points_with(grid, fixed)
    if len(left) == 1:
        config = config.replace(left[0], source="selection grid")
    points = left if len(left) > 1 else ()
    output_dir = output_dir or default_output_dir(config.data.dataset, config.to_json())
    # Before the settings are shown, so that a missing file or a refused directory is the only
    # line printed; neither writes anything: the data are read (and then the directory made)
    # by the run.
    check_data_source(config.data)
    check_output_dir(output_dir, overwrite, config.to_json())
    for line in config_summary(config.to_flat_dict(), method, output_dir, grid=points):
        click.echo(line)
    if len(left) < len(grid):
        said = f"{point_label(fixed)} given: " + (
            f"choosing among the {len(points)} points of the grid of {len(grid)} that have it" if points else
            f"one point of the grid of {len(grid)} has it, {point_label(left[0])}; training it, no selection"
            if left else f"no point of the grid of {len(grid)} has it; training the configuration as given, "
            "no selection")
        for line in wrap(said):
            click.echo(line)

    def start_tensorflow():
        # The strategy comes first: a multi-worker one must be made at program start.
        return make_strategy(config.training.strategy)

    try:
        strategy = quiet_tensorflow(start_tensorflow, verbose)  # TensorFlow loads here, after the checks
    except ValueError as error:
        raise UserError(str(error)) from None
    from ..run.training import run

    try:
        with interrupt_on_termination():
            arguments = dict(output_dir=output_dir, overwrite=overwrite, verbose=0 if quiet else "auto",
                             strategy=strategy, notify=click.echo, method=method)
            if points:
                from ..selection.selected_run import run_selected

                def echo(text):
                    for line in wrap(text):
                        click.echo(line)

                result, chosen = run_selected(config, points, echo=echo, rule=rule, **arguments)
            else:
                result, chosen = run(config, **arguments), None
    except KeyboardInterrupt:
        # The backup of the last saved epoch is intact (run.backup): say how to go on.
        if (output_dir / BACKUP_NAME).is_dir():
            click.echo(f"\ninterrupted: {resume_advice(output_dir / BACKUP_NAME, overwrite)}, in {output_dir}",
                       err=True)
        else:  # before the first epoch's backup, or during a selection's held-out trainings
            click.echo(f"\ninterrupted before a finished epoch of {output_dir} was saved: the same command starts "
                       "again", err=True)
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


def resume_advice(backup_dir: pathlib.Path, overwrite: bool) -> str:
    """How an interrupted run goes on: from its backup's epoch, by the same command without
    ``--overwrite`` (which would start it again)."""
    from ..errors import BackupError
    from ..run.backup import find_checkpoint

    try:
        checkpoint = find_checkpoint(backup_dir)
    except (BackupError, OSError):
        checkpoint = None
    after = f"after epoch {checkpoint.epoch}, the last saved" if checkpoint else "after the last saved epoch"
    if overwrite:
        return f"the same command without --overwrite resumes {after} (with it, the run starts again)"
    return f"the same command resumes {after}"


for _parameter in main.params:  # the others stay settable, and listed by --help-all
    if isinstance(_parameter, click.Option) and _parameter.name not in SHOWN_OPTIONS:
        _parameter.hidden = True
