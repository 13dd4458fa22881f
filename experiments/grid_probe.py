"""Diagnosis runs: one method (or a grid point laid over it) on one seed of a generated data set.

Trains ``--method`` with ``--point`` (a JSON mapping of settings laid over the method's)
on all the training data of ``DATASET`` and appends one JSON line to ``--output``: the
settings, the time, and the relevant task's accuracy on every split the comparison scores
(the unseen combination included: a diagnosis records it, nothing chooses on it).

Usage (from outside the checkout, with a fixed install)::

    python experiments/grid_probe.py us-sim --seed 0 --epochs 45 --shadow-salience 2.5 --scale 0.5 \\
        --point '{"independence_weight": 0}' --output experiments/results/epochs-diagnosis.jsonl
"""

from __future__ import annotations

import argparse
import json
import time

from probe_run import add_run_arguments, append_line, command_line, probe_run, relevant_accuracy


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_run_arguments(parser, method="selected")
    parser.add_argument("--note", default="")
    args = parser.parse_args(argv)
    method, config, data, task = probe_run(args)
    from disentangle_tf.run.training import run

    started = time.time()
    result = run(config, data=data, verbose=0)
    line = {"command": command_line("grid_probe.py", argv), "dataset": args.dataset, "method": method.name,
            "point": json.loads(args.point), "seed": args.seed, "epochs": args.epochs,
            "seconds": round(time.time() - started, 1), "accuracy": relevant_accuracy(result, task),
            "note": args.note}
    append_line(args.output, line)
    print(json.dumps({k: line[k] for k in ("dataset", "point", "seed", "epochs", "seconds", "accuracy")}), flush=True)


if __name__ == "__main__":
    main()
