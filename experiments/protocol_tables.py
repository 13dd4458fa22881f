"""The measures of a pre-registered comparison (experiments/protocols/), from its parts' results.

Reads the ``results.csv`` of every part of one data set (``python -m disentangle_tf.reproduce
... --output-dir PART``), checks that no (method, seed, split, measure) is recorded twice
with different values, and prints a Markdown table, one row per method:

- the relevant task's accuracy on the unseen combination: mean ± sd over seeds, and the
  seeds at 0.85 or more;
- its seen accuracy (``test``; ``--seen-split``) and the worst seen group (``worst_group_accuracy`` there);
- the paired difference to the reference on the unseen combination and on seen accuracy:
  mean, 95 % percentile bootstrap interval and Wilcoxon signed-rank p
  (:func:`disentangle_tf.experiments.report.paired_difference`);
- the fraction of the reference-to-oracle gap on the unseen combination the row closes;

and, per protocol, whether its success criteria are met for each row it names. Nothing is
chosen here; the oracle row is a labelled ceiling.

Usage::

    python experiments/protocol_tables.py --task digit --rows "selected,selected by leakage" \\
        experiments/results/generalisation-1/digits-shadow-*
"""

from __future__ import annotations

import argparse
import csv
import pathlib
from collections import defaultdict

import numpy as np

from disentangle_tf.experiments.report import paired_difference

REFERENCE = "lambda=0 precise-bn"
ORACLE = "oracle"


def read_parts(directories) -> dict:
    """``{(method, split, measure): {seed: value}}`` over every part; ValueError on a conflict."""
    values: dict = defaultdict(dict)
    for directory in directories:
        with open(pathlib.Path(directory) / "results.csv") as handle:
            for row in csv.DictReader(handle):
                key, seed, value = (row["method"], row["split"], row["measure"]), int(row["seed"]), float(row["value"])
                if seed in values[key] and values[key][seed] != value:
                    raise ValueError(f"{directory}: {key} of seed {seed} is {value} here and {values[key][seed]} "
                                     "in another part")
                values[key][seed] = value
    return values


def _cell(values) -> str:
    values = list(values)
    return f"{np.mean(values):.3f} ± {np.std(values, ddof=1) if len(values) > 1 else 0.0:.3f}" if values else "-"


def _difference(comparison) -> str:
    if comparison is None:
        return "-"
    return f"{comparison['mean']:+.3f} [{comparison['low']:+.3f}, {comparison['high']:+.3f}], p {comparison['wilcoxon_p']:.3g}"


def table(values: dict, task: str, reference: str = REFERENCE, unseen_split: str = "unseen",
          seen_split: str = "test", oracle: str = ORACLE) -> tuple[list[str], dict]:
    """The Markdown lines of the table, and per method its paired comparisons and gap fraction."""
    methods = list(dict.fromkeys(method for method, _, _ in values))
    unseen = {m: values.get((m, unseen_split, f"accuracy:{task}"), {}) for m in methods}
    seen = {m: values.get((m, seen_split, f"accuracy:{task}"), {}) for m in methods}
    worst = {m: values.get((m, seen_split, f"worst_group_accuracy:{task}"), {}) for m in methods}
    gap = None
    if unseen.get(oracle) and unseen.get(reference):
        gap = np.mean(list(unseen[oracle].values())) - np.mean(list(unseen[reference].values()))
    lines = ["| method | seeds | unseen | seeds >= 0.85 | seen (test) | worst seen group | unseen − reference "
             "[95 % CI], Wilcoxon p | seen − reference [95 % CI], Wilcoxon p | gap closed |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    verdicts = {}
    for m in methods:
        if not unseen[m]:
            continue
        on_unseen = None if m == reference else paired_difference(unseen[m], unseen[reference])
        on_seen = None if m == reference else paired_difference(seen[m], seen[reference])
        closed = None
        if gap and m != reference:
            closed = (np.mean(list(unseen[m].values())) - np.mean(list(unseen[reference].values()))) / gap
        verdicts[m] = {"unseen": on_unseen, "seen": on_seen, "closed": closed, "gap": gap}
        lines.append(f"| {m} | {len(unseen[m])} | {_cell(unseen[m].values())} | "
                     f"{sum(v >= 0.85 for v in unseen[m].values())} / {len(unseen[m])} | {_cell(seen[m].values())} | "
                     f"{_cell(worst[m].values())} | {_difference(on_unseen)} | {_difference(on_seen)} | "
                     f"{'-' if closed is None else f'{closed:.2f}'} |")
    return lines, verdicts


def criteria(verdicts: dict, rows) -> list[str]:
    """The protocols' success criteria for ``rows``, met or not met."""
    lines = []
    for m in rows:
        verdict = verdicts.get(m)
        if verdict is None or verdict["unseen"] is None:
            lines.append(f"- {m}: not enough paired seeds")
            continue
        applies = verdict["gap"] is not None and verdict["gap"] >= 0.15
        gain = verdict["unseen"]["low"] > 0
        seen_cost = verdict["seen"]["mean"] if verdict["seen"] else float("nan")
        lines.append(
            f"- {m}: reference-to-oracle gap {verdict['gap']:.3f} ("
            + ("the gain criterion applies" if applies else "under 0.15: the gain criterion does not apply")
            + f"); gain interval excludes 0: {'met' if gain else 'not met'}; seen accuracy lost no more than "
            f"2 points ({seen_cost:+.3f}): {'met' if seen_cost >= -0.02 else 'not met'}")
    return lines


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directories", nargs="+")
    parser.add_argument("--task", required=True, help="the relevant task (digit, shape, plane)")
    parser.add_argument("--reference", default=REFERENCE)
    parser.add_argument("--oracle", default=ORACLE, help="the ceiling row the gap is measured to")
    parser.add_argument("--unseen-split", default="unseen", help="us-sim: lvot_with_shadow")
    parser.add_argument("--seen-split", default="test", help="us-sim: test_seen")
    parser.add_argument("--rows", default="", help="comma-separated rows whose success criteria to report")
    arguments = parser.parse_args(argv)
    lines, verdicts = table(read_parts(arguments.directories), arguments.task, arguments.reference,
                            arguments.unseen_split, arguments.seen_split, arguments.oracle)
    print("\n".join(lines))
    rows = [r for r in arguments.rows.split(",") if r]
    if rows:
        print()
        print("\n".join(criteria(verdicts, rows)))


if __name__ == "__main__":
    main()
