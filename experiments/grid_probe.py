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
import pathlib
import shlex
import sys
import time

RELEVANT = {"synthetic": "shape", "us-sim": "plane", "digits-shadow": "digit", "digits-texture": "digit"}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dataset", choices=sorted(RELEVANT))
    parser.add_argument("--method", default="selected", help="a row of reproduce (its first grid point)")
    parser.add_argument("--point", default="{}", help="JSON settings laid over the method's")
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--image-size", type=int, nargs=2, default=None, metavar=("H", "W"))
    parser.add_argument("--scale", type=float, default=None, help="us-sim only")
    parser.add_argument("--shadow-salience", type=float, default=None, help="us-sim only")
    parser.add_argument("--note", default="")
    parser.add_argument("--output", type=pathlib.Path, required=True)
    args = parser.parse_args(argv)
    command = "python experiments/grid_probe.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))

    from disentangle_tf.cli.common import quiet_tensorflow

    quiet_tensorflow()
    from disentangle_tf.experiments.reproduce import load_experiment_data, resolve_methods
    from disentangle_tf.run.config import RunConfig
    from disentangle_tf.run.training import run

    (method,) = resolve_methods(args.dataset, [args.method])
    point = {**method.grid()[0], **json.loads(args.point)}
    flat = {"dataset": args.dataset, "seed": args.seed, "epochs": args.epochs}
    if args.image_size:
        flat["image_size"] = list(args.image_size)
    if args.scale is not None:
        flat["scale"] = args.scale
    if args.shadow_salience is not None:
        flat["shadow_salience"] = args.shadow_salience
    config = RunConfig().replace(flat).replace(point, source=f"method {method.name}")
    data, _ = load_experiment_data(args.dataset, config)
    started = time.time()
    result = run(config, data=data, verbose=0)
    task = RELEVANT[args.dataset]  # a split without the relevant task's labels (us-sim's others) is left out
    accuracy = {name: round(float(values["accuracy"][task]), 4) for name, values in result.metrics.items()
                if task in values["accuracy"]}
    line = {"command": command, "dataset": args.dataset, "method": method.name, "point": json.loads(args.point),
            "seed": args.seed, "epochs": args.epochs, "seconds": round(time.time() - started, 1),
            "accuracy": accuracy, "note": args.note}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    with open(args.output, "a") as file:
        file.write(json.dumps(line) + "\n")
    print(json.dumps({k: line[k] for k in ("dataset", "point", "seed", "epochs", "seconds", "accuracy")}), flush=True)


if __name__ == "__main__":
    main()
