"""What the diagnosis scripts share: one method (or a grid point laid over it) on one seed
of a generated data set, from the command line to its configuration and data.

``add_run_arguments(parser)`` declares the options; ``probe_run(args)`` returns the method,
the configuration, the data (with the splits the comparisons score) and the relevant task;
``relevant_accuracy(result, task)`` the relevant task's accuracy on every split that has
its labels (us-sim's ``others`` split has none).
"""

from __future__ import annotations

import json
import pathlib
import shlex
import sys

RELEVANT = {"synthetic": "shape", "us-sim": "plane", "digits-shadow": "digit", "digits-texture": "digit"}


def add_run_arguments(parser, method: str) -> None:
    """The options of a probe run; ``method`` the default ``--method``."""
    parser.add_argument("dataset", choices=sorted(RELEVANT))
    parser.add_argument("--method", default=method, help="a row of reproduce (its first grid point)")
    parser.add_argument("--point", default="{}", help="JSON settings laid over the method's")
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--image-size", type=int, nargs=2, default=None, metavar=("H", "W"))
    parser.add_argument("--scale", type=float, default=None, help="us-sim only")
    parser.add_argument("--shadow-salience", type=float, default=None, help="us-sim only")
    parser.add_argument("--output", type=pathlib.Path, required=True, help="JSON-lines file to append to")


def command_line(script: str, argv) -> str:
    """The command as typed, for the record."""
    return f"python experiments/{script} " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))


def probe_run(args):
    """``(method, config, data, task)`` of the parsed options (TensorFlow's logs quietened)."""
    from disentangle_tf.cli.common import quiet_tensorflow

    quiet_tensorflow()
    from disentangle_tf.experiments.reproduce import load_experiment_data, resolve_methods
    from disentangle_tf.run.config import RunConfig

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
    return method, config, data, RELEVANT[args.dataset]


def relevant_accuracy(result, task: str) -> dict:
    """Per split with ``task``'s labels, its accuracy (4 decimals)."""
    return {name: round(float(values["accuracy"][task]), 4) for name, values in result.metrics.items()
            if task in values["accuracy"]}


def append_line(path: pathlib.Path, line: dict) -> None:
    """Append ``line`` as JSON to ``path`` (its folder made if needed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as file:
        file.write(json.dumps(line) + "\n")
