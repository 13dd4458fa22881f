"""``python -m disentangle_tf.reproduce``: the paper's comparisons over several seeds.

Example::

    python -m disentangle_tf.reproduce synthetic --seeds 5 --output-dir runs/reproduce-synthetic

For every seed the same data set (generated with that seed) trains every method:

- single-task baselines (``shape only`` and ``background only`` on the synthetic
  shapes; ``plane only`` and ``artifacts only`` on the simulated ultrasound);
- ``lambda=0``: both tasks, no adversarial term (the adversaries are still trained,
  as probes);
- ``proposed``: the paper's objective with lambda chosen from ``--lambda`` values on
  the *validation* split (the mean of the tasks' validation accuracies; ties go to
  the first value given); the chosen lambda is recorded;
- ``uniform``: the adversaries pushed towards the uniform distribution
  (``--uniform-weight``);
- ``conditional HSIC``: lambda 0 plus the class-conditional HSIC independence penalty
  (``--independence-weight``).

Each method is scored on every evaluation split: the accuracy of each task (relevant
task), per class, the accuracy of each adversary (the irrelevant task read from the
other encoder's features) and post-hoc leakage probes (:mod:`disentangle_tf.probes`,
fitted on the validation split). The output directory receives ``results.csv`` (one
row per method, seed, split and measure), ``summary.md`` (means and standard
deviations over seeds, in the paper's layout) and ``figures/`` (PCA of the heads'
hidden features for seed 0, as the paper's Fig. 11, and training curves).

Settings resolve as for ``python -m disentangle_tf.train``: the package defaults, the
``--config`` file, then the options. The defaults here differ in two ways, both chosen
to fit five seeds in an hour on two CPU cores: ``adversary_batches`` is ``same`` (the
adversary steps reuse the main batch's features) and ``epochs`` is
``DEFAULT_EPOCHS``.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import pathlib
import time
from typing import Sequence

import click
import numpy as np

from .cli import UserError, quiet_tensorflow, run_command
from .config import RunConfig, load_config_file
from .outputs import prepare_output_dir

DEFAULT_EPOCHS = 8
DEFAULT_LAMBDAS = (0.01, 0.1)
DEFAULT_UNIFORM_WEIGHT = 0.1
DEFAULT_INDEPENDENCE_WEIGHT = 5.0
#: us-sim at the paper's full Table 1 size: 1,502 training images, so that
#: ``DEFAULT_EPOCHS`` give the plane classifier enough steps to converge.
DEFAULT_US_SIM_SCALE = 1.0

#: What the command writes into its output directory.
OUTPUT_NAMES = ("results.csv", "summary.md", "figures")

#: Per data set: the tasks of each single-task baseline, the splits scored, the split
#: of the PCA figure.
EXPERIMENTS = {
    "synthetic": {
        "single": {"shape only": "shape", "background only": "background"},
        "splits": ("val", "test", "unseen"),
        "figure_split": "test",
    },
    "us-sim": {
        "single": {"plane only": "plane", "artifacts only": "shadow"},
        "splits": ("val", "test_seen", "lvot_with_shadow", "others"),
        "figure_split": "test_seen",
    },
}

FIELDS = ("method", "seed", "split", "measure", "value")


@dataclasses.dataclass(frozen=True)
class Method:
    """One row of the comparison: the tasks it trains and its settings."""

    name: str
    tasks: tuple[str, ...] | None  # None: every task of the data set
    settings: dict


def methods(dataset: str, lambdas: Sequence[float], uniform_weight: float,
            independence_weight: float) -> list[Method]:
    """The methods compared on ``dataset``; ``proposed`` stands for its lambda grid."""
    single = [Method(name, (task,), {"adversarial_weight": 0.0})
              for name, task in EXPERIMENTS[dataset]["single"].items()]
    return [
        *single,
        Method("lambda=0", None, {"adversarial_weight": 0.0}),
        Method("proposed", None, {"adversarial_weight": list(lambdas)}),
        Method("uniform", None, {"adversarial_weight": uniform_weight, "adversarial_objective": "uniform"}),
        Method("conditional HSIC", None, {"adversarial_weight": 0.0,
                                          "independence_weight": independence_weight}),
    ]


def _only(data, tasks):
    """The data set restricted to ``tasks`` (a single-task baseline's view)."""
    from .data.labelled_images import LabelledImages
    from .data.registry import DatasetSplits

    def keep(split):
        return LabelledImages(images=split.images, labels={t: v for t, v in split.labels.items() if t in tasks},
                              class_names=split.class_names, groups=split.groups)

    return DatasetSplits(
        tasks=[t for t in data.tasks if t.name in tasks],
        train=keep(data.train),
        validation=keep(data.validation),
        evaluation={name: keep(split) for name, split in data.evaluation.items()},
    )


def _accuracy(labels, logits) -> float:
    return float(np.mean(np.argmax(logits, axis=-1) == labels))


def score_rows(model, data, outputs, method: str, seed: int) -> list[dict]:
    """Accuracy rows: each task, each class, each adversary (and per class) per split."""
    rows = []

    def add(split, measure, value):
        rows.append({"method": method, "seed": seed, "split": split, "measure": measure, "value": float(value)})

    spec = {t.name: t for t in model.tasks}

    def class_names(task):
        return spec[task].class_names or tuple(str(k) for k in range(spec[task].num_classes))

    def scores(split, prefix, labels, logits, task):
        if not len(labels):
            return
        add(split, prefix, _accuracy(labels, logits))
        for k, name in enumerate(class_names(task)):
            chosen = labels == k
            if chosen.any():
                add(split, f"{prefix}|{name}", _accuracy(labels[chosen], logits[chosen]))

    for split, split_outputs in outputs.items():
        split_labels = data.evaluation[split].labels
        for task in model.task_names:
            if task in split_labels:
                scores(split, f"accuracy:{task}", np.asarray(split_labels[task]), split_outputs["logits"][task], task)
        for (i, j), pair in zip(model.adversary_pairs, model.adversary_names):
            target = model.task_names[j]
            if target in split_labels:
                scores(split, f"adversary_accuracy:{model.task_names[i]}->{target}",
                       np.asarray(split_labels[target]), split_outputs["adversary_logits"][pair], target)
    return rows


def model_outputs(model, splits: dict, batch_size: int = 100) -> dict:
    """``{split: predict_outputs(model, split)}``; the forward pass is traced once per model."""
    from .evaluation import predict_outputs

    return {name: predict_outputs(model, data, batch_size) for name, data in splits.items()}


def _validation_score(result) -> float:
    accuracies = result.metrics["val"]["accuracy"]
    return float(np.mean(list(accuracies.values())))


def run_seed(dataset: str, base: RunConfig, seed: int, method_list: list[Method], output_dir: pathlib.Path,
             echo=print) -> tuple[list[dict], dict]:
    """Train and score every method on one seed; figures for seed 0.

    Returns:
        The rows of this seed and ``{method: history}`` of its runs.
    """
    from .data.registry import load_dataset
    from .plots import plot_group_samples, plot_pca
    from .probes import leakage_probes
    from .training import run

    experiment = EXPERIMENTS[dataset]
    config = base.replace({"seed": seed})
    data = load_dataset(config.data)
    evaluated = [s for s in experiment["splits"] if s in data.evaluation]
    data.evaluation = {s: data.evaluation[s] for s in evaluated}
    score_splits = [s for s in evaluated if s != "val"]
    if seed == 0:
        plot_group_samples({"train": data.train, **data.evaluation}, output_dir / "figures" / "samples.png",
                           title=f"{dataset}: sample images of every group (seed {seed})")
    rows, histories = [], {}
    for method in method_list:
        started = time.time()
        method_data = data if method.tasks is None else _only(data, method.tasks)
        weights = method.settings["adversarial_weight"]
        candidates = weights if isinstance(weights, list) else [weights]
        best = None
        # run() scores only the validation split (for the choice of lambda); every split
        # is scored below, from one pass of the chosen model over it.
        run_data = dataclasses.replace(method_data, evaluation={"val": method_data.validation})
        for weight in candidates:
            settings = {**method.settings, "adversarial_weight": weight}
            result = run(config.replace(settings), data=run_data, verbose=0)
            score = _validation_score(result)
            if len(candidates) > 1:
                rows.append({"method": method.name, "seed": seed, "split": "val",
                             "measure": f"selection_score:lambda={weight:g}", "value": score})
            if best is None or score > best[0]:
                best = (score, weight, result)
        _, weight, result = best
        model = result.model
        rows.append({"method": method.name, "seed": seed, "split": "val", "measure": "lambda", "value": weight})
        outputs = model_outputs(model, {s: data.evaluation[s] for s in evaluated})
        rows.extend(score_rows(model, method_data, outputs, method.name, seed))
        if len(model.task_names) > 1:
            rows.extend(leakage_probes(model, method_data.evaluation, fit_split="val", score_splits=score_splits,
                                       method=method.name, seed=seed, outputs=outputs))
            if seed == 0:
                split = experiment["figure_split"]
                plot_pca(model, method_data.evaluation[split], output_dir / "figures" / f"pca_{_slug(method.name)}.png",
                         title=f"{method.name} (seed {seed}, {split}): PCA of the heads' hidden features",
                         outputs=outputs[split])
        histories[method.name] = result.history
        echo(f"seed {seed}: {method.name} (lambda {weight:g}) in {time.time() - started:.0f} s")
    return rows, histories


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name).strip("_").replace("__", "_")


# ---------------------------------------------------------------------- summary
def _aggregate(rows):
    """``{(method, split, measure): [values over seeds]}``."""
    table: dict[tuple, list[float]] = {}
    for row in rows:
        table.setdefault((row["method"], row["split"], row["measure"]), []).append(float(row["value"]))
    return table


def _cell(values, percent=False) -> str:
    if not values:
        return "-"
    scale = 100.0 if percent else 1.0
    mean = float(np.mean(values)) * scale
    std = float(np.std(values, ddof=1)) * scale if len(values) > 1 else 0.0
    return f"{mean:.1f} ± {std:.1f}" if percent else f"{mean:.2f} ± {std:.2f}"


def _markdown(header, body) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(r) + " |" for r in body]
    return lines + [""]


def _probe_table(table, method_names, pairs, split) -> list[str]:
    header = ["method"]
    keys = []
    for pair in pairs:
        for kind in ("linear", "mlp"):
            header.append(f"{pair} {kind}")
            keys.append(f"probe_{kind}:{pair}")
            header.append(f"{pair} {kind} within")
            keys.append(f"probe_{kind}_within_mean:{pair}")
        header.append(f"{pair} chance")
        keys.append(f"probe_chance:{pair}")
    # Columns no method has on this split (within-class probes where a class is missing) are left out.
    shown = [c for c, k in enumerate(keys) if any((m, split, k) in table for m in method_names)]
    body = [[m, *[_cell(table.get((m, split, keys[c]), [])) for c in shown]] for m in method_names
            if any((m, split, k) in table for k in keys)]
    return _markdown(["method", *[header[c + 1] for c in shown]], body)


def synthetic_tables(table, method_names) -> list[str]:
    """Task accuracy (relevant, and irrelevant through the adversaries) and probes."""
    columns = [
        ("background, test", "test", "accuracy:background"),
        ("shape, test", "test", "accuracy:shape"),
        ("background, unseen", "unseen", "accuracy:background"),
        ("shape, unseen", "unseen", "accuracy:shape"),
        ("irrelevant background (shape features), test", "test", "adversary_accuracy:shape->background"),
        ("irrelevant shape (background features), test", "test", "adversary_accuracy:background->shape"),
        ("irrelevant shape (background features), unseen", "unseen", "adversary_accuracy:background->shape"),
    ]
    body = [[m, *[_cell(table.get((m, s, k), []), percent=True) for _, s, k in columns]] for m in method_names]
    lines = ["## Task accuracy, % (relevant task; irrelevant task through the model's adversaries)", ""]
    lines += _markdown(["method", *[c for c, _, _ in columns]], body)
    pairs = ["shape->background", "background->shape"]
    for split in ("test", "unseen"):
        lines += [f"## Leakage probes on {split} (balanced accuracy; fitted on val; "
                  "'within': mean over classes of the features' own task)", ""]
        lines += _probe_table(table, method_names, pairs, split)
    return lines


def us_sim_tables(table, method_names) -> list[str]:
    """The paper's Table 2 layout, then the probes."""
    planes, shadows = ("3VV", "LVOT", "Abd"), ("without", "with")
    columns = [(p, "test_seen", f"accuracy:plane|{p}") for p in planes]
    columns += [("OA", "test_seen", "accuracy:plane")]
    columns += [({"without": "W/O S", "with": "W S"}[s], "test_seen", f"accuracy:shadow|{s}") for s in shadows]
    columns += [("OA", "test_seen", "accuracy:shadow"), ("LVOT(W S)", "lvot_with_shadow", "accuracy:plane"),
                ("OTHS", "others", "accuracy:shadow")]
    body = [[m, *[_cell(table.get((m, s, k), []), percent=True) for _, s, k in columns]] for m in method_names]
    adversary = {"accuracy:plane": "adversary_accuracy:shadow->plane",
                 "accuracy:shadow": "adversary_accuracy:plane->shadow"}
    for m in method_names:
        if m not in ("proposed", "conditional HSIC"):
            continue
        cells = []
        for _, s, k in columns:
            task_key, _, cls = k.partition("|")
            if s != "test_seen":
                cells.append("-")
                continue
            key = adversary[task_key] + (f"|{cls}" if cls else "")
            cells.append(_cell(table.get((m, s, key), []), percent=True))
        body.append([f"{m}, irrelevant features", *cells])
    lines = ["## Table 2 layout: accuracy %, plane task | shadow task on test_seen, plane on "
             "LVOT(W S), shadow on Others", ""]
    lines += _markdown(["method", *[c for c, _, _ in columns]], body)
    pairs = ["shadow->plane", "plane->shadow"]
    for split in ("test_seen", "lvot_with_shadow", "others"):
        lines += [f"## Leakage probes on {split} (balanced accuracy; fitted on val; "
                  "'within': mean over classes of the features' own task)", ""]
        lines += _probe_table(table, method_names, pairs, split)
    return lines


def write_summary(path, dataset, rows, method_names, config: RunConfig, seeds, lambdas, timing) -> None:
    table = _aggregate(rows)
    chosen = [(r["seed"], r["value"]) for r in rows if r["method"] == "proposed" and r["measure"] == "lambda"]
    lines = [
        f"# Reproduction: {dataset}, {len(seeds)} seed(s)",
        "",
        f"Seeds {', '.join(str(s) for s in seeds)}; every cell is the mean ± standard deviation over seeds "
        "(sample standard deviation; 0 for one seed).",
        "",
        f"Run time: {timing['total']:.0f} s in all, "
        + ", ".join(f"seed {s} {t:.0f} s" for s, t in timing["seeds"].items()) + ".",
        "",
        f"Lambda grid of `proposed`: {', '.join(f'{v:g}' for v in lambdas)} (chosen on the mean validation "
        "accuracy of the tasks, per seed); chosen: "
        + ", ".join(f"seed {s}: {v:g}" for s, v in chosen) + ".",
        "",
        "Settings: `" + json.dumps(config.to_flat_dict()) + "`",
        "",
    ]
    if dataset == "synthetic":
        lines += synthetic_tables(table, method_names)
    else:
        lines += us_sim_tables(table, method_names)
    pathlib.Path(path).write_text("\n".join(lines))


def write_results(path, rows) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=FIELDS)
        writer.writeheader()
        for row in rows:
            writer.writerow({**row, "value": f"{row['value']:.6g}"})


def reproduce(dataset: str, seeds: int, output_dir, config: RunConfig, lambdas=DEFAULT_LAMBDAS,
              uniform_weight=DEFAULT_UNIFORM_WEIGHT, independence_weight=DEFAULT_INDEPENDENCE_WEIGHT,
              echo=print) -> list[dict]:
    """Run the comparison and write ``results.csv``, ``summary.md`` and ``figures/``.

    Args:
        dataset: ``"synthetic"`` or ``"us-sim"``.
        seeds: number of seeds (``0 .. seeds - 1``).
        output_dir: the (prepared) output directory.
        config: settings shared by every run (``dataset`` and ``seed`` are set here).
        lambdas: the lambda grid of ``proposed``.
        uniform_weight: lambda of ``uniform``.
        independence_weight: weight of the penalty of ``conditional HSIC``.
        echo: called with one line of progress per trained method.

    Returns:
        The rows written to ``results.csv``.
    """
    from .plots import plot_training_curves

    output_dir = pathlib.Path(output_dir)
    (output_dir / "figures").mkdir(parents=True, exist_ok=True)
    config = config.replace({"dataset": dataset})
    method_list = methods(dataset, lambdas, uniform_weight, independence_weight)
    rows, timing = [], {"seeds": {}}
    started = time.time()
    for seed in range(seeds):
        seed_started = time.time()
        seed_rows, histories = run_seed(dataset, config, seed, method_list, output_dir, echo=echo)
        rows.extend(seed_rows)
        timing["seeds"][seed] = time.time() - seed_started
        plot_training_curves(histories, output_dir / "figures" / f"training_curves_seed{seed}.png")
        write_results(output_dir / "results.csv", rows)  # partial results survive an interruption
    timing["total"] = time.time() - started
    write_results(output_dir / "results.csv", rows)
    write_summary(output_dir / "summary.md", dataset, rows, [m.name for m in method_list], config,
                  list(range(seeds)), lambdas, timing)
    return rows


@click.command(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.argument("dataset", type=click.Choice(tuple(EXPERIMENTS)))
@click.option("--seeds", type=click.IntRange(min=1), default=5, show_default=True, help="Seeds 0 .. N-1.")
@click.option("--output-dir", type=click.Path(file_okay=False, path_type=pathlib.Path), required=True,
              help="Where to write results.csv, summary.md and figures/.")
@click.option("--epochs", type=int, help=f"Epochs of every run.  [default: {DEFAULT_EPOCHS}]")
@click.option("--image-size", type=(int, int), metavar="H W", help="Image height and width.  [default: 32 40]")
@click.option("--batch-size", type=int, help="Images per main step.  [default: 50]")
@click.option("--scale", type=float,
              help="Size of us-sim relative to the paper's Table 1 (0.05: a tiny check).  "
                   f"[default: {DEFAULT_US_SIM_SCALE:g}]")
@click.option("--lambda", "lambdas", type=float, multiple=True,
              help="Lambda grid of the proposed model (repeat).  [default: 0.01, 0.1]")
@click.option("--uniform-weight", type=float, default=DEFAULT_UNIFORM_WEIGHT, show_default=True,
              help="Lambda of the uniform-objective variant.")
@click.option("--independence-weight", type=float, default=DEFAULT_INDEPENDENCE_WEIGHT, show_default=True,
              help="Weight of the conditional HSIC variant's penalty.")
@click.option("--config", "config_file", type=click.Path(dir_okay=False),
              help="YAML or JSON file of settings shared by every run (keys as in the train command).")
@click.option("--overwrite", is_flag=True, help="Replace earlier results in --output-dir.")
def main(dataset, seeds, output_dir, epochs, image_size, batch_size, scale, lambdas, uniform_weight,
         independence_weight, config_file, overwrite):
    """Compare the paper's methods and variants over several seeds."""
    defaults = RunConfig().replace({"adversary_batches": "same", "epochs": DEFAULT_EPOCHS,
                                    "scale": DEFAULT_US_SIM_SCALE})
    values = defaults.to_flat_dict()
    if config_file is not None:
        values.update(load_config_file(config_file))
    options = {"epochs": epochs, "image_size": image_size, "batch_size": batch_size, "scale": scale}
    values.update({k: v for k, v in options.items() if v is not None})
    config = RunConfig.from_flat_dict(values, source=config_file or "options")
    lambdas = tuple(lambdas) or DEFAULT_LAMBDAS
    if any(v < 0 or not math.isfinite(v) for v in (*lambdas, uniform_weight, independence_weight)):
        raise UserError("--lambda, --uniform-weight and --independence-weight must be finite and >= 0")
    prepare_output_dir(output_dir, overwrite, names=OUTPUT_NAMES)
    quiet_tensorflow()
    started = time.time()
    reproduce(dataset, seeds, output_dir, config, lambdas, uniform_weight, independence_weight,
              echo=click.echo)
    click.echo(f"wrote {output_dir} in {time.time() - started:.0f} s")


if __name__ == "__main__":
    run_command(main, prog_name="python -m disentangle_tf.reproduce")
