"""Methods compared over seeds, as the paper's experiments (the library of
``python -m disentangle_tf.reproduce``, :mod:`disentangle_tf.cli.reproduce`).

For every seed the same data set (generated with that seed) trains every method of
``--methods`` (the names of :mod:`disentangle_tf.run.methods`, the data set's single-task
baselines: ``shape only`` and ``background only`` on the synthetic shapes, ``plane
only`` and ``artifacts only`` on the simulated ultrasound, ``digit only`` and ``shadow
only`` or ``texture only`` on the digits, the rows of the recorded comparisons,
:mod:`disentangle_tf.experiments.former_methods`, and those of candidates,
:mod:`disentangle_tf.experiments.candidates`). A method whose settings
hold a grid (``paper grid``: lambda in 0.01 and 0.1) trains every value and keeps the
one model selection prefers: the mean of the tasks' accuracies on the validation split,
or, with ``--selection oracle`` and clearly labelled so, the shape accuracy on
``unseen_val``, a separately generated set of the unseen combination (never the test
or unseen splits). The ``oracle`` row adds images of the unseen combination to the
training split: a ceiling, not a method.

Each method is scored on every evaluation split: the accuracy of each task (relevant
task), per class, the accuracy of each adversary (the irrelevant task read from the
other encoder's features) and post-hoc leakage probes (:mod:`disentangle_tf.evaluation.probes`,
fitted on the validation split). The output directory receives ``results.csv`` (one
row per method, seed, split and measure), ``run.json`` (what ran and how long),
``summary.md`` (:mod:`disentangle_tf.experiments.report`: the headline per seed with paired
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

import numpy as np

from ..errors import UserError
from ..run.config import RunConfig
from ..data.dataset_splits import DatasetSplits
from ..data.labelled_images import LabelledImages
from ..data.digits import VARIANTS as DIGIT_VARIANTS, make_digits_split
from ..data.synthetic import make_synthetic_split
from ..data.ultrasound_sim import make_us_sim_split
from ..run.datasets import load_dataset
from ..run.methods import METHODS, NEUTRAL, Method
from .candidates import CANDIDATE_METHODS
from .former_methods import FORMER_METHODS
from .report import write_all
from ..selection.grid import RULES
from .group_scores import group_rows
from .grid_selection import grid_keys, grid_label, select_from_training_data, train_once

#: us-sim at the paper's full Table 1 size: 1,502 training images.
DEFAULT_US_SIM_SCALE = 1.0

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
        "oracle_split": "oracle",
        "oracle_selection": None,
    },
    **{name: {
        "single": {"digit only": "digit", f"{task} only": task},
        "splits": ("val", "test", "unseen", "unseen_val"),
        "figure_split": "test",
        "default_methods": ("lambda=0", "lambda=0 precise-bn", "paper", "recommended", "oracle"),
        "oracle_split": "oracle",
        "oracle_selection": ("unseen_val", "digit"),
    } for name, task in DIGIT_VARIANTS.items()},
}

SELECTIONS = ("validation", "oracle", *RULES)

#: The data sets a comparison runs on: the generated ones, and a user's file (its tasks
#: and evaluation splits are read from the data: :func:`manifest_experiment`).
#: The data sets read from a user's file (a CSV manifest, or an HDF5 file of ``convert``).
FILE_DATASETS = ("csv", "hdf5")

DATASETS = (*EXPERIMENTS, *FILE_DATASETS)


def manifest_experiment(data: DatasetSplits) -> dict:
    """The experiment of a user's manifest, in the layout of :data:`EXPERIMENTS`.

    One single-task baseline per task (``"<task> only"``, with two tasks or more),
    every evaluation split scored (the validation split and each test split in the
    manifest's order, as the paper's Test seen, LVOT(W S) and Artifacts(OTHS)), the PCA
    figure on the first test split; no oracle row (a manifest has no generated images
    of an unseen combination).
    """
    tasks = [task.name for task in data.tasks]
    single = {f"{task} only": task for task in tasks} if len(tasks) > 1 else {}
    tests = [name for name in data.evaluation if name != "val"]
    return {
        "single": single,
        "splits": ("val", *tests),
        "figure_split": tests[0] if tests else "val",
        "default_methods": (*single, "lambda=0", "lambda=0 precise-bn", "paper", "recommended"),
        "oracle_split": None,
        "oracle_selection": None,
    }


def experiment_of(dataset: str, data: DatasetSplits | None = None) -> dict:
    """The experiment of ``dataset``; a file data set (``csv``, ``hdf5``) needs its loaded ``data``."""
    if dataset in FILE_DATASETS:
        if data is None:
            raise ValueError(f"the {dataset} experiment is read from its data: pass data")
        return manifest_experiment(data)
    return EXPERIMENTS[dataset]


def resolve_methods(dataset: str, names, data: DatasetSplits | None = None) -> list[Method]:
    """The methods ``names`` call for on ``dataset`` (``all``: every method and single-task
    baseline); ``data`` is the loaded file data set for ``csv`` and ``hdf5`` (its tasks name
    the single-task baselines).

    A name is looked up among the data set's single-task baselines and
    :data:`~disentangle_tf.run.methods.METHODS` first, then among the rows of the recorded
    comparisons (:data:`~disentangle_tf.experiments.former_methods.FORMER_METHODS`) and of
    the candidates (:data:`~disentangle_tf.experiments.candidates.CANDIDATE_METHODS`), named
    one by one, never by ``all``; a row of any of these tables trains the same way.

    Raises:
        UserError: for an unknown name, or one the data set cannot run.
    """
    experiment = experiment_of(dataset, data)
    # A single-task baseline has no adversary and no penalty: every method key at its neutral
    # value, except the batch-norm statistics, recomputed after training as the recommended
    # setting's (on the simulated ultrasound the moving averages lag the weights and a
    # baseline without them collapses in inference mode: docs/ultrasound.rst, calibration).
    single = {name: Method(name, {**NEUTRAL, "precise_batch_norm": 30}, f"{task} alone")
              for name, task in experiment["single"].items()}
    methods = {**single, **METHODS}
    if list(names) == ["all"]:
        names = list(methods)
    # A name of a method first, then of a recorded row or a candidate's.
    available = {**FORMER_METHODS, **CANDIDATE_METHODS, **methods}
    chosen = []
    for name in names:
        if name not in available:
            raise UserError(f"--methods: unknown method {name!r}; expected some of: {', '.join(methods)} or all, "
                            f"or a row of disentangle_tf.experiments.former_methods: {', '.join(FORMER_METHODS)}, "
                            f"or of disentangle_tf.experiments.candidates: {', '.join(CANDIDATE_METHODS)}")
        if available[name].oracle and experiment["oracle_split"] is None:
            raise UserError(f"--methods: {name!r} needs images of the unseen combination, which {dataset} lacks")
        if available[name] not in chosen:
            chosen.append(available[name])
    return chosen


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
        relevant_task=data.relevant_task if data.relevant_task in tasks else "",
    )


def score_rows(metrics: dict, method: str, seed: int) -> list[dict]:
    """Accuracy rows of one run: each task, each class, each adversary (and per class) per split.

    Read from :func:`~disentangle_tf.evaluation.evaluate.evaluate_split` results by split: a task
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
    from ..evaluation.forward import predict_outputs  # TensorFlow: loaded once the input is checked

    return {name: predict_outputs(model, data, batch_size) for name, data in splits.items()}


def load_experiment_data(dataset: str, config: RunConfig, data: DatasetSplits | None = None):
    """The data set of one seed with the splits the experiment scores, and the oracle's extra images.

    A user's file (``csv``, ``hdf5``) is the same for every seed: pass it once as ``data``.

    Returns:
        ``(data, oracle_extra)``: a :class:`~disentangle_tf.data.dataset_splits.DatasetSplits`
        whose ``evaluation`` holds the experiment's splits, and the images of the unseen
        combination the oracle row adds to training (None where there are none).
    """
    data = load_dataset(config.data) if data is None else dataclasses.replace(data, evaluation=dict(data.evaluation))
    experiment = experiment_of(dataset, data)
    oracle_extra = None
    if experiment["oracle_split"] is not None:
        if experiment["oracle_selection"] is not None:
            name = experiment["oracle_selection"][0]
            data.evaluation[name] = _generated_split(dataset, name, config)
        oracle_extra = _generated_split(dataset, experiment["oracle_split"], config)
    data.evaluation = {s: data.evaluation[s] for s in experiment["splits"] if s in data.evaluation}
    return data, oracle_extra


def _generated_split(dataset: str, split: str, config: RunConfig) -> LabelledImages:
    """One split of a generated data set, as ``config.data`` generates the others (its image
    size and seed; on us-sim also its scale and shadow salience)."""
    size, seed = tuple(config.data.image_size), config.data.seed
    if dataset == "synthetic":
        return make_synthetic_split(split, size, seed)
    if dataset == "us-sim":
        return make_us_sim_split(split, size, scale=config.data.scale, seed=seed,
                                 shadow_salience=config.data.shadow_salience)
    return make_digits_split(dataset, split, size, seed)


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
             selection: str = "validation", echo=print, data: DatasetSplits | None = None) -> tuple[list[dict], dict]:
    """Train and score every method on one seed; figures for seed 0.

    Returns:
        The rows of this seed and ``{method: history}`` of its runs.
    """
    from ..evaluation.plots import plot_group_samples, plot_pca  # TensorFlow: loaded once the input is checked
    from ..evaluation.evaluate import evaluate_split
    from ..evaluation.probes import leakage_probes

    config = base.replace({"seed": seed})
    data, oracle_extra = load_experiment_data(dataset, config, data)
    experiment = experiment_of(dataset, data)
    evaluated = list(data.evaluation)
    score_splits = [s for s in evaluated if s != "val"]
    if seed == 0:
        plot_group_samples({"train": data.train, **data.evaluation}, output_dir / "figures" / "samples.png",
                           title=f"{dataset}: sample images of every group (seed {seed})")
    selection_splits = ["val"] + ([experiment["oracle_selection"][0]] if selection == "oracle" else [])
    rows, histories, trained = [], {}, {}
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
        rule = method.selection or selection
        if rule in RULES and len(grid) > 1:
            point, result, point_rows = select_from_training_data(
                config, method, grid, method_data, seed, echo, rule=rule, trained=trained)
            rows.extend(point_rows)
        else:
            best = None
            for point in grid:
                result = train_once(config.replace(point, source=f"method {method.name}"), run_data, trained)
                score = selection_score(result, dataset, selection)
                if len(grid) > 1:
                    rows.append({"method": method.name, "seed": seed, "split": selection_splits[-1],
                                 "measure": f"selection_score:{grid_label(method, point)}", "value": score})
                if best is None or score > best[0]:
                    best = (score, point, result)
            _, point, result = best
        model = result.model
        for key in grid_keys(method):
            value = point[key]  # a choice among names is recorded as the measure chosen:<key>=<name>, value 1
            rows.append({"method": method.name, "seed": seed, "split": selection_splits[-1],
                         "measure": f"chosen:{key}" + (f"={value}" if isinstance(value, str) else ""),
                         "value": 1.0 if isinstance(value, str) else float(value)})
        outputs = model_outputs(model, data.evaluation)
        metrics = {name: evaluate_split(model, split, outputs=outputs[name])
                   for name, split in method_data.evaluation.items()}
        rows.extend(score_rows(metrics, method.name, seed))
        rows.extend(group_rows(outputs, data.evaluation, data.tasks, method.name, seed))
        if len(model.task_names) > 1:
            rows.extend(leakage_probes(model, method_data.evaluation, fit_split="val", score_splits=score_splits,
                                       method=method.name, seed=seed, outputs=outputs))
            if seed == 0:
                split = experiment["figure_split"]
                # An ensemble's heads are its members': the figure shows the first one's.
                members = getattr(model, "members", None)
                shown, of = (model, "") if members is None else (members[0], ", first member")
                plot_pca(shown, method_data.evaluation[split], output_dir / "figures" / f"pca_{_slug(method.name)}.png",
                         title=f"{method.name} (seed {seed}{of}, {split}): PCA of the heads' hidden features",
                         outputs=outputs[split] if members is None else None)
        histories[method.name] = result.history
        chosen = ", ".join(f"{k} {v:g}" if not isinstance(v, str) else f"{k} {v}"
                           for k, v in point.items() if k in grid_keys(method))
        echo(f"seed {seed}: {method.name}{f' ({chosen})' if chosen else ''} in {time.time() - started:.0f} s")
    return rows, histories


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name).strip("_").replace("__", "_")


def reproduce(dataset: str, seeds: Sequence[int], output_dir, config: RunConfig, method_list: Sequence[Method],
              selection: str = "validation", echo=print, data: DatasetSplits | None = None,
              headline: tuple[str, str] | None = None) -> list[dict]:
    """Run the comparison and write ``results.csv``, ``run.json``, ``summary.md`` and ``figures/``.

    Args:
        dataset: ``"synthetic"``, ``"us-sim"``, ``"digits-shadow"``, ``"digits-texture"``,
            ``"csv"`` (a manifest) or ``"hdf5"`` (a file of the convert command), the
            last two read from ``config.data``.
        seeds: the seeds.
        output_dir: the (prepared) output directory.
        config: settings shared by every run (``dataset`` and ``seed`` are set here).
        method_list: the rows (:func:`resolve_methods`).
        selection: ``"validation"`` or ``"oracle"`` (see the module's docstring).
        echo: called with one line of progress per trained method.
        data: the loaded file data set (``csv``, ``hdf5``; loaded from ``config.data`` if None).
        headline: ``(split, task)`` whose accuracy heads ``summary.md`` with the paired
            differences to ``lambda=0`` (file data sets; the generated ones have theirs).

    Returns:
        The rows written to ``results.csv``.
    """
    from ..evaluation.plots import plot_training_curves  # matplotlib: loaded when drawing

    output_dir = pathlib.Path(output_dir)
    (output_dir / "figures").mkdir(parents=True, exist_ok=True)
    config = config.replace({"dataset": dataset})
    if dataset in FILE_DATASETS and data is None:
        data = load_dataset(config.data)
    rows = []
    started = time.time()
    part = {"methods": [m.name for m in method_list], "seeds": [], "seconds": 0.0, "selection": selection,
            "settings": config.to_flat_dict()}
    if headline is not None:
        part["headline"] = list(headline)
    for seed in seeds:
        seed_rows, histories = run_seed(dataset, config, seed, list(method_list), output_dir, selection, echo=echo,
                                        data=data)
        rows.extend(seed_rows)
        part["seeds"].append(seed)
        part["seconds"] = time.time() - started
        plot_training_curves(histories, output_dir / "figures" / f"training_curves_seed{seed}.png")
        # Partial results survive an interruption.
        write_all(output_dir, dataset, rows, [part])
    return rows
