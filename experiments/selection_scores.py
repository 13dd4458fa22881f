"""How well each selection score ranks the settings of a grid by their real unseen accuracy.

Reads the ``results.csv`` of ``python -m disentangle_tf.reproduce ... --selection
held-out-combination`` (every grid point is trained on all the data and scored on every
split; its held-out-combination estimate, validation accuracy and within-class leakage are
recorded) and prints, per data set, a Markdown table:

- per score, the Spearman rank correlation between the score and the point's real accuracy
  on the unseen combination, per seed, and its mean over seeds (the leakage score is
  negated: lower leakage should mean higher accuracy);
- the estimate's error: held-out estimate minus the real unseen accuracy, per point, mean
  and mean absolute value;
- which point each rule would choose and the unseen accuracy it would get, beside the
  oracle choice (the best real unseen accuracy: a ceiling, never a procedure).

Usage::

    python experiments/selection_scores.py experiments/results/pilot/digits-shadow [...]
    python experiments/selection_scores.py --task plane --unseen-split lvot_with_shadow --seen-split test_seen DIR
"""

from __future__ import annotations

import argparse
import csv
import pathlib
import sys
from collections import defaultdict

import numpy as np
from scipy.stats import spearmanr

TOLERANCE = 0.02


def read_points(directory: pathlib.Path, method: str = "selected", task: str = "digit", unseen: str = "unseen",
                seen: str = "test") -> dict:
    """``{seed: {label: {quantity: value}}}`` of every grid point of ``method``."""
    points: dict = defaultdict(lambda: defaultdict(dict))
    with open(directory / "results.csv") as handle:
        for row in csv.DictReader(handle):
            if row["method"] != method or not row["measure"].startswith("point:"):
                continue
            label, quantity = row["measure"][len("point:"):].split("|", 1)
            if quantity.startswith("accuracy:"):
                if quantity != f"accuracy:{task}":
                    continue
                split = {unseen: "unseen", seen: "test"}.get(row["split"], row["split"])
                quantity = f"{split}_accuracy"
            points[int(row["seed"])][label][quantity] = float(row["value"])
    return points


def _spearman(x, y) -> float:
    if len(set(x)) < 2 or len(set(y)) < 2:
        return float("nan")
    return float(spearmanr(x, y).statistic)


def choose(values: dict, score: str, sign: float = 1.0, validation: str = "held_out_validation") -> str:
    """The label a rule picks: best ``sign * score`` among the points within TOLERANCE of the best validation."""
    best = max(v[validation] for v in values.values())
    admissible = [label for label, v in values.items() if v[validation] >= best - TOLERANCE and score in v]
    return max(admissible, key=lambda label: sign * values[label][score])


def summary(directory: pathlib.Path, task: str = "digit", unseen: str = "unseen", seen: str = "test",
            method: str = "selected") -> list[str]:
    points = read_points(directory, method=method, task=task, unseen=unseen, seen=seen)
    scores = {"held-out estimate": ("held_out_estimate", 1.0), "held-out relative": ("held_out_relative", 1.0),
              "least leakage": ("leakage", -1.0), "validation accuracy": ("val_accuracy", 1.0)}
    lines = [f"### {directory.name}", "", "| score | Spearman per seed | mean | the rule's choice: unseen accuracy per "
             "seed | mean | its test accuracy, mean |", "| --- | --- | --- | --- | --- | --- |"]
    for name, (key, sign) in scores.items():
        rhos, chosen, seen = [], [], []
        for seed, values in sorted(points.items()):
            labels = [label for label in values if key in values[label]]
            rhos.append(_spearman([sign * values[l][key] for l in labels], [values[l]["unseen_accuracy"] for l in labels]))
            # Each rule's own admissibility: held-out validation for the held-out scores, the
            # full models' validation accuracy for least leakage (as --selection least-leakage).
            admit = "val_accuracy" if key == "leakage" else "held_out_validation"
            pick = (choose(values, key, sign, validation=admit) if key != "val_accuracy"
                    else max(values, key=lambda l: values[l][key]))
            chosen.append(values[pick]["unseen_accuracy"])
            seen.append(values[pick]["test_accuracy"])
        lines.append(f"| {name} | {', '.join(f'{r:+.2f}' for r in rhos)} | {np.nanmean(rhos):+.2f} | "
                     f"{', '.join(f'{c:.2f}' for c in chosen)} | {np.mean(chosen):.3f} | {np.mean(seen):.3f} |")
    oracle = [max(v["unseen_accuracy"] for v in values.values()) for _, values in sorted(points.items())]
    lines.append(f"| oracle choice (ceiling) | | | {', '.join(f'{c:.2f}' for c in oracle)} | {np.mean(oracle):.3f} | |")
    errors = [v["held_out_estimate"] - v["unseen_accuracy"] for values in points.values() for v in values.values()
              if "held_out_estimate" in v]
    lines += ["", f"Held-out estimate minus real unseen accuracy over {len(errors)} points: mean {np.mean(errors):+.3f}, "
              f"mean absolute {np.mean(np.abs(errors)):.3f}.", "",
              "| seed | point | held-out estimate | relative | held-out validation | leakage | val | test | unseen |",
              "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for seed, values in sorted(points.items()):
        for label, v in values.items():
            cells = [v.get(k) for k in ("held_out_estimate", "held_out_relative", "held_out_validation", "leakage",
                                        "val_accuracy", "test_accuracy", "unseen_accuracy")]
            lines.append(f"| {seed} | {label} | " + " | ".join("" if c is None else f"{c:.3f}" for c in cells) + " |")
    return lines + [""]




def rows_table(directory: pathlib.Path, task: str = "digit", unseen: str = "unseen", seen: str = "test") -> list[str]:
    """Per row (method) and seed: the relevant task's accuracy on val, test and unseen."""
    values: dict = defaultdict(dict)
    with open(directory / "results.csv") as handle:
        for row in csv.DictReader(handle):
            split = {unseen: "unseen", seen: "test"}.get(row["split"], row["split"])
            if row["measure"] == f"accuracy:{task}" and split in ("val", "test", "unseen"):
                values[(row["method"], int(row["seed"]))][split] = float(row["value"])
    lines = ["| row | seed | val | test | unseen |", "| --- | --- | --- | --- | --- |"]
    for (method, seed), v in sorted(values.items()):
        lines.append(f"| {method} | {seed} | {v.get('val', float('nan')):.3f} | {v.get('test', float('nan')):.3f} | "
                     f"{v.get('unseen', float('nan')):.3f} |")
    return lines + [""]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directories", nargs="+")
    parser.add_argument("--task", default="digit", help="the relevant task (digit, shape, plane)")
    parser.add_argument("--unseen-split", default="unseen", help="us-sim: lvot_with_shadow")
    parser.add_argument("--seen-split", default="test", help="us-sim: test_seen")
    parser.add_argument("--method", default="selected", help="the row whose grid points are scored")
    args = parser.parse_args()
    for argument in args.directories:
        where = dict(task=args.task, unseen=args.unseen_split, seen=args.seen_split)
        print("\n".join(summary(pathlib.Path(argument), method=args.method, **where)
                        + rows_table(pathlib.Path(argument), **where)))
