"""The range of the simulated fetal ultrasound (us-sim) over its shadow salience.

Trains one method on one seed of ``--dataset us-sim`` at one ``shadow_salience`` and
appends one JSON line to the output file: the command, the settings, the seconds taken
and the accuracies (overall and per class) on ``val``, ``test_seen`` and
``lvot_with_shadow``. Every run is recorded, whatever its outcome.

These runs characterise the data set: how the plane accuracy of a baseline on the
unseen combination (LVOT with shadow) moves with the salience, and what the salience
costs on the seen combinations. Nothing of any method is chosen from them; the
simulator's other parameters stay as calibrated on ``val`` and ``test_seen``
(``experiments/us_sim_calibration.py``).

    python experiments/us_sim_salience.py --shadow-salience 3 --seed 0
    python experiments/us_sim_salience.py --shadow-salience 3 --seed 0 --method "plane only"

``--figure PATH`` trains nothing: it draws the same scenes at saliences 1, 2 and 3
(docs/figures/us_sim_salience.png).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import pathlib
import shlex
import subprocess
import sys
import time

DEFAULT_OUTPUT = pathlib.Path(__file__).parent / "results" / "us-sim-salience.jsonl"
SPLITS = ("val", "test_seen", "lvot_with_shadow")


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                              cwd=pathlib.Path(__file__).parent, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def figure(path: pathlib.Path, levels=(1.0, 2.0, 3.0), seed: int = 3) -> None:
    """The first images of 3VV, Abd and LVOT with a shadow, and LVOT without, at each salience
    (56 x 72, raw log-compressed brightness on one grey scale)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from disentangle_tf.data.us_sim import render_raw

    rows = (("3VV", True), ("Abd", True), ("LVOT", True), ("LVOT", False))
    images = {(row, level): render_raw(*row, 1, (56, 72), seed=seed, shadow_salience=level)[0][0]
              for row in rows for level in levels}
    top = max(image.max() for image in images.values())
    fig, axes = plt.subplots(len(rows), len(levels), figsize=(1.9 * len(levels), 1.6 * len(rows)))
    for r, row in enumerate(rows):
        for c, level in enumerate(levels):
            ax = axes[r, c]
            ax.imshow(images[row, level], cmap="gray", vmin=0.0, vmax=top)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(f"shadow_salience {level:g}", fontsize=8)
            if c == 0:
                ax.set_ylabel(f"{row[0]}-{'with' if row[1] else 'without'}", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shadow-salience", type=float, default=1.0,
                        help="the data set's shadow_salience (1: the calibrated simulator)")
    parser.add_argument("--method", default="lambda=0 precise-bn",
                        help="plane only, artifacts only, or a method of disentangle_tf.run.methods")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--scale", type=float, default=0.5)
    parser.add_argument("--image-size", type=int, nargs=2, default=None, metavar=("H", "W"),
                        help="default: the train command's")
    parser.add_argument("--note", default="", help="free text stored with the line")
    parser.add_argument("--output", type=pathlib.Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--figure", type=pathlib.Path, metavar="PATH",
                        help="only draw the same scenes at saliences 1, 2 and 3 into PATH")
    args = parser.parse_args(argv)
    if args.figure:
        figure(args.figure)
        return
    command = "python experiments/us_sim_salience.py " + " ".join(map(shlex.quote, sys.argv[1:] if argv is None
                                                                        else argv))

    from disentangle_tf.cli.common import quiet_tensorflow

    quiet_tensorflow()
    from disentangle_tf.data.us_sim import appearance_parameters
    from disentangle_tf.experiments.reproduce import _only, load_experiment_data, resolve_methods, score_rows
    from disentangle_tf.run.config import RunConfig
    from disentangle_tf.run.training import run

    (method,) = resolve_methods("us-sim", [args.method])
    flat = {"dataset": "us-sim", "seed": args.seed, "epochs": args.epochs, "scale": args.scale,
            "shadow_salience": args.shadow_salience}
    if args.image_size:
        flat["image_size"] = list(args.image_size)
    config = RunConfig().replace(flat).replace(method.settings, source=f"method {method.name}")
    started = time.time()
    data, _ = load_experiment_data("us-sim", config)
    render_seconds = time.time() - started
    single = {"plane only": "plane", "artifacts only": "shadow"}.get(method.name)
    data = dataclasses.replace(data, evaluation={s: data.evaluation[s] for s in SPLITS})
    if single:
        data = _only(data, (single,))
    result = run(config, data=data, verbose=0)
    scores = {f"{row['split']}/{row['measure']}": round(row["value"], 4)
              for row in score_rows(result.metrics, method.name, args.seed)
              if not row["measure"].startswith("adversary")}
    line = {
        "kind": "salience range", "command": command, "commit": _commit(),
        "method": method.name, "shadow_salience": args.shadow_salience, "seed": args.seed,
        "epochs": args.epochs, "scale": args.scale, "image_size": list(config.data.image_size),
        "precise_batch_norm": config.training.precise_batch_norm, "appearance": appearance_parameters(),
        "seconds": round(time.time() - started, 1), "render_seconds": round(render_seconds, 1),
        "scores": scores, "note": args.note,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    with open(args.output, "a") as file:
        file.write(json.dumps(line) + "\n")
    keys = ("test_seen/accuracy:plane", "test_seen/accuracy:plane|LVOT", "lvot_with_shadow/accuracy:plane")
    print(json.dumps({"method": method.name, "shadow_salience": args.shadow_salience, "seed": args.seed,
                      "seconds": line["seconds"], **{key: scores.get(key) for key in keys}}))


if __name__ == "__main__":
    main()
