"""``python -m disentangle_tf.reproduce``: methods compared over seeds.

Example::

    python -m disentangle_tf.reproduce synthetic --seeds 10 --output-dir runs/reproduce-synthetic
    python -m disentangle_tf.reproduce synthetic --methods lambda=0,paper --seeds 0-4 --output-dir runs/part1
    python -m disentangle_tf.reproduce csv --data manifest.csv --task plane --task shadow \
        --test-split test_seen --test-split lvot_with_shadow --test-split others --missing-labels allow \
        --headline lvot_with_shadow:plane --output-dir runs/table2
    python -m disentangle_tf.reproduce hdf5 --data data.h5 --image-size 224 288 --output-dir runs/table2

What runs, how models are selected and what is written: :mod:`disentangle_tf.experiments.reproduce`.
Every option, method name and the output directory are checked before TensorFlow loads
or anything is written.
"""

from __future__ import annotations

import pathlib
import time

import click

from ..errors import ConfigError
from ..experiments.reproduce import (DATASETS, DEFAULT_US_SIM_SCALE, FILE_DATASETS, OUTPUT_NAMES, SELECTIONS,
                                     experiment_of, reproduce, resolve_methods)
from ..experiments.candidates import CANDIDATE_METHODS
from ..experiments.former_methods import FORMER_METHODS
from ..run.methods import METHODS
from ..run.output_lock import hold_output_dir
from ..run.outputs import check_output_dir, prepare_output_dir
from ..run.run_settings import resolve_config
from ..run.option_text import shown_value
from ..run.options import find_option
from .common import UserError, quiet_tensorflow
from .config_options import config_option, manifest_options
from .train import SET_HELP

DEFAULT_SEEDS = 10


def parse_seeds(text: str) -> list[int]:
    """``"10"``: seeds 0-9; ``"5-9"``: 5 to 9; ``"0,3,4"``: those. UserError otherwise."""
    try:
        if "," in text:
            seeds = [int(part) for part in text.split(",")]
        elif "-" in text.strip("-"):
            first, last = (int(part) for part in text.split("-"))
            seeds = list(range(first, last + 1))
        else:
            seeds = list(range(int(text)))
    except ValueError:
        seeds = []
    if not seeds or min(seeds) < 0 or len(set(seeds)) != len(seeds):
        raise UserError(f"--seeds: expected a count (10), a range (5-9) or a list (0,3,4) of distinct seeds >= 0; "
                        f"got {text!r}")
    return seeds


def _parse_headline(text: str | None, data) -> tuple[str, str] | None:
    """``"SPLIT:TASK"`` -> ``(split, task)``, both present in ``data``; UserError otherwise."""
    if text is None:
        return None
    split, _, task = text.partition(":")
    splits, tasks = [s for s in data.evaluation if s != "val"], [t.name for t in data.tasks]
    if split not in splits or task not in tasks:
        raise UserError(f"--headline: expected SPLIT:TASK with SPLIT one of {', '.join(splits)} and TASK one of "
                        f"{', '.join(tasks)}; got {text!r}")
    return split, task


@click.command(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.argument("dataset", type=click.Choice(DATASETS))
@click.option("--methods", "method_names", multiple=True,
              help="Rows to run, comma-separated or repeated: " + ", ".join(METHODS)
                   + ", the single-task baselines, or all (every one of those); or a row of a recorded comparison: "
                   + ", ".join(FORMER_METHODS) + "; or a candidate's: " + ", ".join(CANDIDATE_METHODS)
                   + ".  [default: synthetic: lambda=0, paper, recommended, "
                     "oracle; us-sim: plane only, artifacts only, lambda=0, lambda=0 precise-bn, paper, recommended; "
                     "digits-shadow, digits-texture: lambda=0, lambda=0 precise-bn, paper, recommended, oracle; csv: "
                     "TASK only for every task, lambda=0, lambda=0 precise-bn, paper, recommended]")
@click.option("--seeds", "seed_text", default=str(DEFAULT_SEEDS), show_default=True,
              help="A count N (seeds 0..N-1), a range A-B (one seed: 7-7) or a list A,B,C.")
@click.option("--selection", type=click.Choice(SELECTIONS), default="validation", show_default=True,
              help="Model selection of grid methods (paper grid, selected): the validation split; "
                   "held-out-combination, training without combinations of the training split that stand in "
                   "for the unseen one (every point is also scored on every split, recorded, never used to "
                   "choose); or oracle selection on a separately generated unseen-combination validation set "
                   "(a labelled ceiling; generated data sets only).")
@click.option("--output-dir", type=click.Path(file_okay=False, path_type=pathlib.Path), required=True,
              help="Where to write results.csv, run.json, summary.md and figures/.")
@config_option("epochs", help="Epochs of every run.", default_text="the train command's")
@config_option("image_size", help="Image height and width.", default_text="the train command's")
@config_option("batch_size")
@config_option("scale", help="Size of us-sim relative to the paper's Table 1 (0.05: a tiny check).",
               default_text=f"{DEFAULT_US_SIM_SCALE:g}, the paper's size for its table; the train command's default, "
                            f"{shown_value(find_option('scale').default)}, is for a quicker single run")
@click.option("--config", "config_file", type=click.Path(dir_okay=False),
              help="YAML or JSON file of settings shared by every run (keys as in the train command); a "
                   "method's own settings take precedence.")
@click.option("--set", "settings", multiple=True, metavar="KEY=VALUE",
              help=SET_HELP + " A method's own settings take precedence.")
@click.option("--headline", metavar="SPLIT:TASK",
              help="csv, hdf5: the task accuracy on an evaluation split that heads the summary with each method's "
                   "paired difference to lambda=0 (the paper's LVOT(W S): lvot_with_shadow:plane).")
@click.option("--overwrite", is_flag=True, help="Replace earlier results in --output-dir.")
@manifest_options
def main(dataset, method_names, seed_text, selection, output_dir, epochs, image_size, batch_size, scale,
         config_file, settings, headline, overwrite, **manifest):
    """Compare methods over several seeds (Meng et al., 2019, and the package's variants).

    DATASET is synthetic, us-sim, digits-shadow, digits-texture, csv (a manifest read with
    the train command's options: --data, --task, --test-split, ...) or hdf5 (a file of the
    convert command, --data);
    every test split of a user's file is scored per task and class.
    """
    names = [n.strip() for text in method_names for n in text.split(",") if n.strip()]
    if method_names and not names:
        raise UserError(f"--methods: no method named in {', '.join(map(repr, method_names))}; expected names "
                        "such as lambda=0,recommended (leave the option out for the default rows)")
    seeds = parse_seeds(seed_text)
    if headline is not None and dataset not in FILE_DATASETS:
        raise UserError(f"--headline: only with the {' or '.join(FILE_DATASETS)} data set (the generated data sets "
                        f"have theirs); got {dataset}")
    options = {"epochs": epochs, "image_size": image_size, "batch_size": batch_size, "scale": scale, **manifest}
    config = resolve_config(config_file, {**options, "dataset": dataset}, defaults={"scale": DEFAULT_US_SIM_SCALE},
                            set_options=settings)
    data = None
    if dataset in FILE_DATASETS:
        from ..run.datasets import load_dataset

        quiet_tensorflow()  # the readers load it
        try:
            data = load_dataset(config.data)  # every image decoded and checked before anything is written
        except ValueError as error:
            raise UserError(str(error)) from None
        headline = _parse_headline(headline, data)
    experiment = experiment_of(dataset, data)
    method_list = resolve_methods(dataset, names or experiment["default_methods"], data)
    if selection == "oracle" and experiment["oracle_selection"] is None:
        raise UserError(f"--selection oracle: {dataset} has no unseen-combination validation set")
    for method in method_list:  # every method's settings are valid before anything runs
        for point in method.grid():
            try:
                config.replace(point, source=f"method {method.name}")
            except ConfigError as error:
                raise UserError(str(error)) from None
    check_output_dir(output_dir, overwrite)  # writes nothing
    with hold_output_dir(output_dir, "reproduce run"):  # no other command writes there until the results are
        prepare_output_dir(output_dir, overwrite, names=OUTPUT_NAMES)
        quiet_tensorflow()
        started = time.time()
        reproduce(dataset, seeds, output_dir, config, method_list, selection, echo=click.echo, data=data,
                  headline=headline)
    click.echo(f"wrote {output_dir} in {time.time() - started:.0f} s")

