"""``python -m disentangle_tf.reproduce``: methods compared over seeds.

Example::

    python -m disentangle_tf.reproduce synthetic --seeds 10 --output-dir runs/reproduce-synthetic
    python -m disentangle_tf.reproduce synthetic --methods lambda=0,paper --seeds 0-4 --output-dir runs/part1

For every seed the same data set (generated with that seed) trains every method of
``--methods`` (the names of :mod:`disentangle_tf.methods`, and the data set's single-task
baselines: ``shape only`` and ``background only`` on the synthetic shapes, ``plane
only`` and ``artifacts only`` on the simulated ultrasound). A method whose settings
hold a grid (``paper grid``: lambda in 0.01 and 0.1) trains every value and keeps the
one model selection prefers: the mean of the tasks' accuracies on the validation split,
or, with ``--selection oracle`` and clearly labelled so, the shape accuracy on
``unseen_val``, a separately generated set of the unseen combination (never the test
or unseen splits). The ``oracle`` row adds images of the unseen combination to the
training split: a ceiling, not a method.

Each method is scored on every evaluation split: the accuracy of each task (relevant
task), per class, the accuracy of each adversary (the irrelevant task read from the
other encoder's features) and post-hoc leakage probes (:mod:`disentangle_tf.probes`,
fitted on the validation split). The output directory receives ``results.csv`` (one
row per method, seed, split and measure), ``run.json`` (what ran and how long),
``summary.md`` (:mod:`disentangle_tf.report`: the headline per seed with paired
differences to ``lambda=0``, means and standard deviations in the paper's layout) and
``figures/`` (PCA of the heads' hidden features for seed 0, as the paper's Fig. 11,
and training curves). Parts of one comparison run separately (``--methods``,
``--seeds``) merge with ``python -m disentangle_tf.report``.

Settings resolve as for ``python -m disentangle_tf.train``: the package defaults, the
``--config`` file, the method's settings, then the options.
"""

from __future__ import annotations

import dataclasses
import pathlib
import time
from typing import Sequence

import click
import numpy as np

from .cli import UserError, quiet_tensorflow, run_command
from .config import ConfigError, RunConfig
from .data.dataset_splits import DatasetSplits
from .data.labelled_images import LabelledImages
from .data.synthetic import make_synthetic_split
from .datasets import load_dataset
from .methods import METHODS, NEUTRAL, Method
from .outputs import prepare_output_dir
from .report import write_all
from .run_settings import resolve_config

#: us-sim at the paper's full Table 1 size: 1,502 training images.
DEFAULT_US_SIM_SCALE = 1.0
DEFAULT_SEEDS = 10

#: What the command writes into its output directory.
OUTPUT_NAMES = ("results.csv", "run.json", "summary.md", "figures")

#: Per data set: the tasks of each single-task baseline, the splits scored, the split
#: of the PCA figure, the default rows, and the oracle's extra training split and
#: selection split (None where the data set has none).
EXPERIMENTS = {
    "synthetic": {
        "single": {"shape only": "shape", "background only": "background"},
        "splits": ("val", "test", "unseen", "unseen_val"),
        "figure_split": "test",
        "default_methods": ("lambda=0", "paper", "recommended", "oracle"),
        "oracle_split": "oracle",
        "oracle_selection": ("unseen_val", "shape"),
    },
    "us-sim": {
        "single": {"plane only": "plane", "artifacts only": "shadow"},
        "splits": ("val", "test_seen", "lvot_with_shadow", "others"),
        "figure_split": "test_seen",
        "default_methods": ("plane only", "artifacts only", "lambda=0", "lambda=0 precise-bn", "paper", "recommended"),
        "oracle_split": None,
        "oracle_selection": None,
    },
}

SELECTIONS = ("validation", "oracle")


def resolve_methods(dataset: str, names) -> list[Method]:
    """The methods ``names`` call for on ``dataset`` (``all``: every one).

    Raises:
        UserError: for an unknown name, or one the data set cannot run.
    """
    experiment = EXPERIMENTS[dataset]
    # A single-task baseline has no adversary and no penalty: every method key at its neutral
    # value, except the batch-norm statistics, recomputed after training as the recommended
    # setting's (on the simulated ultrasound the moving averages lag the weights and a
    # baseline without them collapses in inference mode: docs/ultrasound.rst, calibration).
    single = {name: Method(name, {**NEUTRAL, "precise_batch_norm": 30}, f"{task} alone")
              for name, task in experiment["single"].items()}
    available = {**single, **METHODS}
    if list(names) == ["all"]:
        names = list(available)
    chosen = []
    for name in names:
        if name not in available:
            raise UserError(f"--methods: unknown method {name!r}; expected some of: {', '.join(available)} or all")
        if available[name].oracle and experiment["oracle_split"] is None:
            raise UserError(f"--methods: {name!r} needs images of the unseen combination, which {dataset} lacks")
        if available[name] not in chosen:
            chosen.append(available[name])
    return chosen


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


def _only(data, tasks):
    """The data set restricted to ``tasks`` (a single-task baseline's view)."""
    def keep(split):
        return LabelledImages(images=split.images, labels={t: v for t, v in split.labels.items() if t in tasks},
                              class_names=split.class_names, groups=split.groups)

    return DatasetSplits(
        tasks=[t for t in data.tasks if t.name in tasks],
        train=keep(data.train),
        validation=keep(data.validation),
        evaluation={name: keep(split) for name, split in data.evaluation.items()},
    )


def score_rows(metrics: dict, method: str, seed: int) -> list[dict]:
    """Accuracy rows of one run: each task, each class, each adversary (and per class) per split.

    Read from :func:`~disentangle_tf.evaluation.evaluate_split` results by split: a task
    or adversary is scored on the images with its label; a class without images has no
    row.
    """
    rows = []

    def add(split, measure, value):
        rows.append({"method": method, "seed": seed, "split": split, "measure": measure, "value": float(value)})

    for split, values in metrics.items():
        for kind, per_class in (("accuracy", "class_accuracy"), ("adversary_accuracy", "adversary_class_accuracy")):
            for name, accuracy in values[kind].items():
                add(split, f"{kind}:{name}", accuracy)
                for class_name, value in values[per_class].get(name, {}).items():
                    add(split, f"{kind}:{name}|{class_name}", value)
    return rows


def model_outputs(model, splits: dict, batch_size: int = 100) -> dict:
    """``{split: predict_outputs(model, split)}``; the forward pass is traced once per model."""
    from .forward import predict_outputs  # TensorFlow: loaded once the input is checked

    return {name: predict_outputs(model, data, batch_size) for name, data in splits.items()}


def load_experiment_data(dataset: str, config: RunConfig):
    """The data set of one seed with the splits the experiment scores, and the oracle's extra images.

    Returns:
        ``(data, oracle_extra)``: a :class:`~disentangle_tf.data.dataset_splits.DatasetSplits`
        whose ``evaluation`` holds the experiment's splits, and the images of the unseen
        combination the oracle row adds to training (None where there are none).
    """
    experiment = EXPERIMENTS[dataset]
    data = load_dataset(config.data)
    oracle_extra = None
    if dataset == "synthetic":
        extra = {name: make_synthetic_split(name, tuple(config.data.image_size), config.data.seed)
                 for name in ("unseen_val", experiment["oracle_split"])}
        data.evaluation["unseen_val"] = extra["unseen_val"]
        oracle_extra = extra[experiment["oracle_split"]]
    data.evaluation = {s: data.evaluation[s] for s in experiment["splits"] if s in data.evaluation}
    return data, oracle_extra


def _with_extra_training(data, extra):
    """``data`` whose training split also holds ``extra`` (the oracle row)."""
    train = data.train
    groups = None
    if train.groups is not None and extra.groups is not None:
        groups = np.concatenate([train.groups, extra.groups])
    joined = LabelledImages(
        images=np.concatenate([train.images, extra.images]),
        labels={t: np.concatenate([v, extra.labels[t]]) for t, v in train.labels.items()},
        class_names=train.class_names, groups=groups,
    )
    return dataclasses.replace(data, train=joined)


def selection_score(result, dataset: str, selection: str) -> float:
    """What model selection maximises: the tasks' mean validation accuracy, or (oracle
    selection) the accuracy on the unseen-combination validation set."""
    if selection == "oracle":
        split, task = EXPERIMENTS[dataset]["oracle_selection"]
        return float(result.metrics[split]["accuracy"][task])
    return float(np.mean(list(result.metrics["val"]["accuracy"].values())))


def run_seed(dataset: str, base: RunConfig, seed: int, method_list: list[Method], output_dir: pathlib.Path,
             selection: str = "validation", echo=print) -> tuple[list[dict], dict]:
    """Train and score every method on one seed; figures for seed 0.

    Returns:
        The rows of this seed and ``{method: history}`` of its runs.
    """
    from .plots import plot_group_samples, plot_pca  # TensorFlow: loaded once the input is checked
    from .evaluation import evaluate_split
    from .probes import leakage_probes
    from .training import run

    experiment = EXPERIMENTS[dataset]
    config = base.replace({"seed": seed})
    data, oracle_extra = load_experiment_data(dataset, config)
    evaluated = list(data.evaluation)
    score_splits = [s for s in evaluated if s != "val"]
    if seed == 0:
        plot_group_samples({"train": data.train, **data.evaluation}, output_dir / "figures" / "samples.png",
                           title=f"{dataset}: sample images of every group (seed {seed})")
    selection_splits = ["val"] + ([experiment["oracle_selection"][0]] if selection == "oracle" else [])
    rows, histories = [], {}
    for method in method_list:
        started = time.time()
        single = experiment["single"].get(method.name)
        method_data = data if single is None else _only(data, (single,))
        if method.oracle:
            method_data = _with_extra_training(method_data, oracle_extra)
        # run() scores only the selection splits; every split is scored below, from one
        # pass of the chosen model over it.
        run_data = dataclasses.replace(method_data, evaluation={s: method_data.evaluation[s]
                                                                for s in selection_splits})
        grid = method.grid()
        best = None
        for point in grid:
            result = run(config.replace(point, source=f"method {method.name}"), data=run_data, verbose=0)
            score = selection_score(result, dataset, selection)
            if len(grid) > 1:
                label = ",".join(f"{k}={v:g}" for k, v in point.items() if isinstance(method.settings[k], list))
                rows.append({"method": method.name, "seed": seed, "split": selection_splits[-1],
                             "measure": f"selection_score:{label}", "value": score})
            if best is None or score > best[0]:
                best = (score, point, result)
        _, point, result = best
        model = result.model
        for key, value in method.settings.items():
            if isinstance(value, list):
                rows.append({"method": method.name, "seed": seed, "split": selection_splits[-1],
                             "measure": f"chosen:{key}", "value": float(point[key])})
        outputs = model_outputs(model, data.evaluation)
        metrics = {name: evaluate_split(model, split, outputs=outputs[name])
                   for name, split in method_data.evaluation.items()}
        rows.extend(score_rows(metrics, method.name, seed))
        if len(model.task_names) > 1:
            rows.extend(leakage_probes(model, method_data.evaluation, fit_split="val", score_splits=score_splits,
                                       method=method.name, seed=seed, outputs=outputs))
            if seed == 0:
                split = experiment["figure_split"]
                plot_pca(model, method_data.evaluation[split], output_dir / "figures" / f"pca_{_slug(method.name)}.png",
                         title=f"{method.name} (seed {seed}, {split}): PCA of the heads' hidden features",
                         outputs=outputs[split])
        histories[method.name] = result.history
        chosen = ", ".join(f"{k} {v:g}" for k, v in point.items() if isinstance(method.settings.get(k), list))
        echo(f"seed {seed}: {method.name}{f' ({chosen})' if chosen else ''} in {time.time() - started:.0f} s")
    return rows, histories


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name).strip("_").replace("__", "_")


def reproduce(dataset: str, seeds: Sequence[int], output_dir, config: RunConfig, method_list: Sequence[Method],
              selection: str = "validation", echo=print) -> list[dict]:
    """Run the comparison and write ``results.csv``, ``run.json``, ``summary.md`` and ``figures/``.

    Args:
        dataset: ``"synthetic"`` or ``"us-sim"``.
        seeds: the seeds.
        output_dir: the (prepared) output directory.
        config: settings shared by every run (``dataset`` and ``seed`` are set here).
        method_list: the rows (:func:`resolve_methods`).
        selection: ``"validation"`` or ``"oracle"`` (see the module's docstring).
        echo: called with one line of progress per trained method.

    Returns:
        The rows written to ``results.csv``.
    """
    from .plots import plot_training_curves  # matplotlib: loaded when drawing

    output_dir = pathlib.Path(output_dir)
    (output_dir / "figures").mkdir(parents=True, exist_ok=True)
    config = config.replace({"dataset": dataset})
    rows = []
    started = time.time()
    part = {"methods": [m.name for m in method_list], "seeds": [], "seconds": 0.0, "selection": selection,
            "settings": config.to_flat_dict()}
    for seed in seeds:
        seed_rows, histories = run_seed(dataset, config, seed, list(method_list), output_dir, selection, echo=echo)
        rows.extend(seed_rows)
        part["seeds"].append(seed)
        part["seconds"] = time.time() - started
        plot_training_curves(histories, output_dir / "figures" / f"training_curves_seed{seed}.png")
        # Partial results survive an interruption.
        write_all(output_dir, dataset, rows, [part])
    return rows


@click.command(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.argument("dataset", type=click.Choice(tuple(EXPERIMENTS)))
@click.option("--methods", "method_names", multiple=True,
              help="Rows to run, comma-separated or repeated: " + ", ".join(METHODS)
                   + ", the single-task baselines, or all.  [default: synthetic: lambda=0, paper, recommended, "
                     "oracle; us-sim: plane only, artifacts only, lambda=0, lambda=0 precise-bn, paper, recommended]")
@click.option("--seeds", "seed_text", default=str(DEFAULT_SEEDS), show_default=True,
              help="A count N (seeds 0..N-1), a range A-B (one seed: 7-7) or a list A,B,C.")
@click.option("--selection", type=click.Choice(SELECTIONS), default="validation", show_default=True,
              help="Model selection of grid methods: the validation split, or oracle selection on a "
                   "separately generated unseen-combination validation set (synthetic only).")
@click.option("--output-dir", type=click.Path(file_okay=False, path_type=pathlib.Path), required=True,
              help="Where to write results.csv, run.json, summary.md and figures/.")
@click.option("--epochs", type=int, help="Epochs of every run.  [default: the train command's]")
@click.option("--image-size", type=(int, int), metavar="H W", help="Image height and width.  [default: the train "
                                                                   "command's]")
@click.option("--batch-size", type=int, help="Images per main step.  [default: 50]")
@click.option("--scale", type=float,
              help="Size of us-sim relative to the paper's Table 1 (0.05: a tiny check).  "
                   f"[default: {DEFAULT_US_SIM_SCALE:g}]")
@click.option("--config", "config_file", type=click.Path(dir_okay=False),
              help="YAML or JSON file of settings shared by every run (keys as in the train command); a "
                   "method's own settings take precedence.")
@click.option("--overwrite", is_flag=True, help="Replace earlier results in --output-dir.")
def main(dataset, method_names, seed_text, selection, output_dir, epochs, image_size, batch_size, scale,
         config_file, overwrite):
    """Compare methods over several seeds (Meng et al., 2019, and the package's variants)."""
    names = [n.strip() for text in method_names for n in text.split(",") if n.strip()]
    method_list = resolve_methods(dataset, names or EXPERIMENTS[dataset]["default_methods"])
    seeds = parse_seeds(seed_text)
    if selection == "oracle" and EXPERIMENTS[dataset]["oracle_selection"] is None:
        raise UserError(f"--selection oracle: {dataset} has no unseen-combination validation set")
    options = {"epochs": epochs, "image_size": image_size, "batch_size": batch_size, "scale": scale}
    config = resolve_config(config_file, options, defaults={"scale": DEFAULT_US_SIM_SCALE})
    for method in method_list:  # every method's settings are valid before anything runs
        for point in method.grid():
            try:
                config.replace(point, source=f"method {method.name}")
            except ConfigError as error:
                raise UserError(str(error)) from None
    prepare_output_dir(output_dir, overwrite, names=OUTPUT_NAMES)
    quiet_tensorflow()
    started = time.time()
    reproduce(dataset, seeds, output_dir, config, method_list, selection, echo=click.echo)
    click.echo(f"wrote {output_dir} in {time.time() - started:.0f} s")


if __name__ == "__main__":
    run_command(main, prog_name="python -m disentangle_tf.reproduce")
