"""What the shape encoder's features know about circles on black, read by refitted heads.

For each seed, trains one model of the synthetic shapes (the recommended setting's
training unless ``--settings`` changes it; ``--settings '{"last_layer_retraining": false}'``
keeps the trained classifiers; ``"weight_averaging": 0.995`` ends training on the moving
average of the weights, :mod:`disentangle_tf.run.weight_averaging`) and scores, on
``unseen_val`` (a separately generated set of circles on black: *oracle selection*; the
``unseen`` test split is not evaluated):

- ``unseen_val``: the model as the run leaves it;
- ``shift_log2_uv``: its shape logits with ``log 2`` added to the circle's (the class
  prior of group-balanced batches, a third of circles, moved to a half);
- ``dfr_uv``: a logistic regression (C = 1, class-then-group balanced weights) refitted
  on the standardised shape *features* of the training split (Kirichenko et al., 2023);
- ``erase1_uv`` / ``leace_uv``: the same after removing from the features the direction
  that separates rectangles on black from rectangles on white (plain, and after
  whitening with the rectangles' covariance, as LEACE, Belrose et al., 2023);

each with its test shape accuracy (``*_test``). The features, logits and, for the
shape classifier, the inputs of its last layer are saved next to the output file
(``<output>-<seed>.npz``) for refits at other settings. One JSON line per seed.

    python experiments/last_layer_analysis.py --seeds 20,21 --output experiments/last_layer_analysis.jsonl

``--data-seed N`` generates every run's images with seed ``N`` while each run's own seed
sets its initialisation and batch order: whether a failure follows the data or the training.

``--ensemble`` instead reads, from the saved files of ``--data-seed`` runs, each data
seed's models and prints their ``unseen_val`` / test shape accuracies one by one and as
a deep ensemble (the mean of their softmax probabilities), for every set of members
given by ``--members`` (offsets from the data seed, e.g. ``100,200,300``).

``--sweep`` instead refits, from the saved files of ``--output``, the shape classifier
on the features (``z``) and on the inputs of its last layer (``h``) at several inverse
L2 strengths ``C``, and prints the unseen_val / test shape accuracy of each.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import time

import numpy as np

#: The training of every model (the recommended setting's, at the package defaults).
BASE = {"image_size": [56, 72], "feature_pooling": "average", "epochs": 15, "batch_size": 50,
        "adversarial_weight": 0.0, "adversary_batches": "same", "independence_weight": 10.0,
        "independence_layers": "blocks", "sampling": "group_balanced", "precise_batch_norm": 30}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="20,21", help="Comma-separated seeds (not those of the headline table).")
    parser.add_argument("--settings", default="{}", help="JSON object of settings laid over BASE.")
    parser.add_argument("--data-seed", type=int,
                        help="Generate every run's images with this seed (default: each run's seed), so that "
                             "runs differ only in initialisation and batch order.")
    parser.add_argument("--output", type=pathlib.Path, required=True, help="JSON-lines file to append to.")
    parser.add_argument("--sweep", action="store_true", help="Refit from the saved files at several C.")
    parser.add_argument("--ensemble", action="store_true", help="Score the saved models of each data seed as ensembles.")
    parser.add_argument("--members", action="append", default=[],
                        help="Comma-separated seed offsets of one ensemble's members (repeat for more ensembles).")
    args = parser.parse_args()
    if args.sweep:
        return sweep(args.output)
    if args.ensemble:
        return ensembles(args.output, [[int(k) for k in m.split(",")] for m in args.members or ["0,100,200"]])

    from sklearn.linear_model import LogisticRegression

    from disentangle_tf.cli.common import quiet_tensorflow
    from disentangle_tf.data.synthetic import make_synthetic_split
    from disentangle_tf.models.last_layer import balanced_weights, last_dense_inputs
    from disentangle_tf.run.config import RunConfig
    from disentangle_tf.run.datasets import load_dataset
    from disentangle_tf.run.training import run
    from disentangle_tf.run.weight_averaging import WeightAveraging

    quiet_tensorflow()
    settings = json.loads(args.settings)
    averaging = {key: settings.pop(key) for key in ["weight_averaging"] if key in settings}  # a callback, not a key
    for seed in (int(s) for s in args.seeds.split(",")):
        config = RunConfig().replace({**BASE, **settings, "seed": seed})
        data_seed = seed if args.data_seed is None else args.data_seed
        data = load_dataset(config.replace({"seed": data_seed}).data)
        unseen_val = make_synthetic_split("unseen_val", tuple(config.data.image_size), data_seed)
        data.evaluation = {"val": data.validation, "test": data.evaluation["test"], "unseen_val": unseen_val}
        started = time.time()
        callbacks = [WeightAveraging(averaging["weight_averaging"])] if averaging else []
        result = run(config, data=data, verbose=0, callbacks=callbacks)
        model = result.model
        head_inputs = last_dense_inputs(model.classifiers[1])

        def forward(split):
            logits, features, hidden = [], [], []
            for i in range(0, len(split), 200):
                lg, f = model(split.images[i:i + 200], training=False, return_features=True)
                logits.append(np.asarray(lg["shape"]))
                features.append(np.asarray(f["shape"]))
                hidden.append(np.asarray(head_inputs(f["shape"], training=False)))
            return np.concatenate(features), np.concatenate(logits), np.concatenate(hidden)

        ztr, ltr, htr = forward(data.train)
        zte, lte, hte = forward(data.evaluation["test"])
        zuv, luv, huv = forward(unseen_val)
        ys, yb = data.train.labels["shape"], data.train.labels["background"]
        yte = data.evaluation["test"].labels["shape"]
        suffix = f"-{seed}" if args.data_seed is None else f"-{data_seed}-{seed}"
        np.savez(str(args.output).replace(".jsonl", f"{suffix}.npz"), ztr=ztr, zte=zte, zuv=zuv, ltr=ltr, lte=lte,
                 luv=luv, htr=htr, hte=hte, huv=huv, ys=ys, yb=yb, yte=yte)
        record = {"seed": seed, **({"data_seed": data_seed} if args.data_seed is not None else {}),
                  "settings": {**settings, **averaging}, "seconds": round(time.time() - started),
                  "test": result.metrics["test"]["accuracy"], "unseen_val": result.metrics["unseen_val"]["accuracy"]["shape"]}
        record["shift_log2_uv"] = float(np.mean((luv[:, 1] - luv[:, 0] - np.log(2)) < 0))
        record["shift_log2_test"] = float(np.mean(((lte[:, 1] - lte[:, 0] - np.log(2)) > 0) == (yte == 1)))
        weights = balanced_weights({"background": yb, "shape": ys}, "shape")
        mean, std = ztr.mean(0), ztr.std(0) + 1e-6  # of the features as they are

        def refit(train, test, unseen, name):
            fit = LogisticRegression(C=1.0, max_iter=2000).fit((train - mean) / std, ys, sample_weight=weights)
            record[name + "_uv"] = float(np.mean(fit.predict((unseen - mean) / std) == 0))
            record[name + "_test"] = float(np.mean(fit.predict((test - mean) / std) == yte))

        refit(ztr, zte, zuv, "dfr")
        rectangles = ys == 1
        direction = ztr[rectangles & (yb == 0)].mean(0) - ztr[rectangles & (yb == 1)].mean(0)
        direction /= np.linalg.norm(direction)
        erase = np.eye(len(direction)) - np.outer(direction, direction)
        refit(ztr @ erase, zte @ erase, zuv @ erase, "erase1")
        covariance = np.cov(ztr[rectangles].T) + 1e-3 * np.eye(len(direction))
        values, vectors = np.linalg.eigh(covariance)
        whiten = vectors @ np.diag(values ** -0.5) @ vectors.T
        colour = vectors @ np.diag(values ** 0.5) @ vectors.T
        u = whiten @ direction
        u /= np.linalg.norm(u)
        leace = whiten @ (np.eye(len(u)) - np.outer(u, u)) @ colour
        refit(ztr @ leace, zte @ leace, zuv @ leace, "leace")
        record["margin_cw"] = float(np.median(ltr[ys == 0, 0] - ltr[ys == 0, 1]))
        record["margin_uv"] = float(np.median(luv[:, 0] - luv[:, 1]))
        with open(args.output, "a") as handle:
            handle.write(json.dumps(record) + "\n")
        print(json.dumps(record), flush=True)


def ensembles(output: pathlib.Path, member_sets) -> None:
    """Print, per data seed, each member's and each ensemble's unseen_val / test shape accuracy,
    then the means over the data seeds that have every member of a set."""
    import glob
    import re

    from scipy.special import softmax

    saved = {}
    for path in glob.glob(str(output).replace(".jsonl", "-*-*.npz")):
        data_seed, seed = map(int, re.findall(r"-(\d+)-(\d+)\.npz$", path)[0])
        saved.setdefault(data_seed, {})[seed - data_seed] = np.load(path)
    totals = {tuple(m): [] for m in member_sets}
    for data_seed in sorted(saved):
        cells = []
        for members in member_sets:
            if not all(k in saved[data_seed] for k in members):
                continue
            runs = [saved[data_seed][k] for k in members]
            single = [float(np.mean(np.argmax(r["luv"], 1) == 0)) for r in runs]  # every unseen_val image a circle
            unseen = float(np.mean(np.argmax(np.mean([softmax(r["luv"], 1) for r in runs], 0), 1) == 0))
            test = float(np.mean(np.argmax(np.mean([softmax(r["lte"], 1) for r in runs], 0), 1) == runs[0]["yte"]))
            totals[tuple(members)].append((np.mean(single), unseen, test))
            cells.append(f"members +{',+'.join(map(str, members))}: {' '.join(f'{a:.2f}' for a in single)} "
                         f"-> ensemble {unseen:.2f} (test {test:.3f})")
        print(f"data seed {data_seed}: " + "; ".join(cells))
    for members, rows in totals.items():
        if rows:
            single, unseen, test = np.mean(rows, axis=0)
            print(f"members +{',+'.join(map(str, members))} over {len(rows)} data seeds: mean member {single:.3f}, "
                  f"ensemble {unseen:.3f}, ensemble test {test:.3f} (lowest {min(r[2] for r in rows):.3f})")


def sweep(output: pathlib.Path, strengths=(1.0, 10.0, 100.0, 1000.0)):
    """Print, per saved seed, the refit's unseen_val / test shape accuracy at each C (the files of
    ``--data-seed`` runs, ``<output>-<data seed>-<seed>.npz``, are left to ``--ensemble``)."""
    import glob
    import re

    from sklearn.linear_model import LogisticRegression

    from disentangle_tf.models.last_layer import balanced_weights

    paths = glob.glob(str(output).replace(".jsonl", "-*.npz"))
    for path in sorted(p for p in paths if re.search(r"-\d+\.npz$", p) and not re.search(r"-\d+-\d+\.npz$", p)):
        saved = np.load(path)
        weights = balanced_weights({"background": saved["yb"], "shape": saved["ys"]}, "shape")
        cells = []
        for kind in ("z", "h"):
            train, test, unseen = saved[kind + "tr"], saved[kind + "te"], saved[kind + "uv"]
            mean, std = train.mean(0), train.std(0) + 1e-6
            for c in strengths:
                fit = LogisticRegression(C=c, max_iter=5000).fit((train - mean) / std, saved["ys"], sample_weight=weights)
                cells.append(f"{kind} C={c:g}: {np.mean(fit.predict((unseen - mean) / std) == 0):.2f}"
                             f"/{np.mean(fit.predict((test - mean) / std) == saved['yte']):.3f}")
        print(pathlib.Path(path).stem, "  ".join(cells))


if __name__ == "__main__":
    main()
