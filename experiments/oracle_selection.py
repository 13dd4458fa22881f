"""Oracle selection of the recommended setting on the synthetic shapes.

The validation split has no circle on black, so it cannot tell which setting
generalises to that combination: every candidate reaches about 1.0 there. This command
trains each candidate on a few seeds and scores it on ``unseen_val``, a separately
generated set of circles on black (DomainBed's *oracle selection*); the ``unseen`` test
split is not evaluated at all. Each line of the output file is one run (JSON).

    python experiments/oracle_selection.py --seeds 20,21 --output experiments/oracle_selection.jsonl
"""

from __future__ import annotations

import argparse
import json
import pathlib
import time

#: The settings every candidate shares (the package defaults at the time of the choice).
BASE = {"image_size": [56, 72], "feature_pooling": "average", "epochs": 15, "batch_size": 50,
        "adversarial_weight": 0.0, "adversary_batches": "same", "independence_weight": 0.0,
        "independence_layers": "features", "sampling": "uniform", "precise_batch_norm": 0,
        "last_layer_retraining": False}

#: The recommended setting of the first round (blocks, group-balanced, weight 10, batch-norm
#: statistics recomputed over 30 batches).
RECOMMENDED = {"independence_weight": 10.0, "independence_layers": "blocks", "sampling": "group_balanced",
               "precise_batch_norm": 30}

#: The candidates, by name: the options the choice was between.
CANDIDATES = {
    "features, uniform sampling, weight 10": {"independence_weight": 10.0, "independence_layers": "features",
                                              "sampling": "uniform"},
    "features, group-balanced, weight 10": {"independence_weight": 10.0, "independence_layers": "features",
                                            "sampling": "group_balanced"},
    "blocks, uniform sampling, weight 10": {"independence_weight": 10.0, "independence_layers": "blocks",
                                            "sampling": "uniform"},
    "blocks, group-balanced, weight 10": {"independence_weight": 10.0, "independence_layers": "blocks",
                                          "sampling": "group_balanced"},
    "blocks, group-balanced, weight 30": {"independence_weight": 30.0, "independence_layers": "blocks",
                                          "sampling": "group_balanced"},
    # Second round: the chosen setting (with recomputed batch-norm statistics) against
    # a stronger penalty, longer training, and added label-conditional adversaries.
    "recommended": RECOMMENDED,
    "recommended, weight 30": {**RECOMMENDED, "independence_weight": 30.0},
    "recommended, 25 epochs": {**RECOMMENDED, "epochs": 25},
    "recommended, conditional adversaries uniform 0.1": {**RECOMMENDED, "adversarial_weight": 0.1,
                                                         "conditional_adversaries": True,
                                                         "adversarial_objective": "uniform"},
    # Third round: the moving average of the weights over the last ~100 steps.
    "recommended, weight averaging 0.99": {**RECOMMENDED, "weight_averaging": 0.99},
    # Fourth round: the penalty also on every block's output map averaged to a 2 x 2
    # grid, each cell a sample: local features, not only their global average.
    "recommended, block maps": {**RECOMMENDED, "independence_layers": "block_maps"},
    "recommended, block maps, weight 30": {**RECOMMENDED, "independence_layers": "block_maps",
                                           "independence_weight": 30.0},
    # Fifth round: the block maps (weight 10, the better of the two on seeds 23-25) trained longer.
    "recommended, block maps, 25 epochs": {**RECOMMENDED, "independence_layers": "block_maps", "epochs": 25},
    # Seventh round: with last-layer retraining (experiments/last_layer_analysis.py), 15 and 25 epochs.
    "recommended, last-layer retraining": {**RECOMMENDED, "last_layer_retraining": True},
    "recommended, last-layer retraining, 25 epochs": {**RECOMMENDED, "last_layer_retraining": True, "epochs": 25},
    # Eighth round: the refit on features made more invariant (block maps; weight 30).
    "recommended, last-layer retraining, block maps": {**RECOMMENDED, "last_layer_retraining": True,
                                                       "independence_layers": "block_maps"},
    "recommended, last-layer retraining, weight 30": {**RECOMMENDED, "last_layer_retraining": True,
                                                      "independence_weight": 30.0},
    # Ninth round: the penalty on both the blocks' averages and their grid cells; the
    # block maps at weight 20.
    "recommended, last-layer retraining, block pyramid": {**RECOMMENDED, "last_layer_retraining": True,
                                                          "independence_layers": "block_pyramid"},
    "recommended, last-layer retraining, block maps, weight 20": {**RECOMMENDED, "last_layer_retraining": True,
                                                                  "independence_layers": "block_maps",
                                                                  "independence_weight": 20.0},
    # Tenth round: twice the samples per penalty estimate (batch 100, the same images per
    # epoch); the moving average of the weights over about the last 200 steps.
    "recommended, last-layer retraining, block maps, batch 100": {**RECOMMENDED, "last_layer_retraining": True,
                                                                  "independence_layers": "block_maps",
                                                                  "batch_size": 100},
    "recommended, last-layer retraining, block maps, weight averaging 0.995": {
        **RECOMMENDED, "last_layer_retraining": True, "independence_layers": "block_maps", "weight_averaging": 0.995},
    # Eleventh round: three runs of the setting from other seeds on the same images, their
    # probabilities averaged (experiments/last_layer_analysis.py --data-seed, --ensemble).
    "recommended, last-layer retraining, block maps, ensemble of 3": {
        **RECOMMENDED, "last_layer_retraining": True, "independence_layers": "block_maps", "ensemble_size": 3},
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="20,21", help="Comma-separated seeds (not those of the headline table).")
    parser.add_argument("--candidates", default=",".join(str(i) for i in range(len(CANDIDATES))),
                        help="Comma-separated candidate indices.")
    parser.add_argument("--output", type=pathlib.Path, required=True, help="JSON-lines file to append to.")
    args = parser.parse_args()

    from disentangle_tf.cli.common import quiet_tensorflow
    from disentangle_tf.run.config import RunConfig
    from disentangle_tf.run.datasets import load_dataset
    from disentangle_tf.data.synthetic import make_synthetic_split
    from disentangle_tf.run.training import run
    from disentangle_tf.run.weight_averaging import WeightAveraging

    quiet_tensorflow()
    names = list(CANDIDATES)
    for seed in (int(s) for s in args.seeds.split(",")):
        for index in (int(i) for i in args.candidates.split(",")):
            name = names[index]
            settings = dict(CANDIDATES[name])
            averaging = settings.pop("weight_averaging", 0.0)
            callbacks = [WeightAveraging(averaging)] if averaging else []
            config = RunConfig().replace({**BASE, **settings, "seed": seed})
            data = load_dataset(config.data)
            data.evaluation = {"val": data.validation, "test": data.evaluation["test"],
                               "unseen_val": make_synthetic_split("unseen_val", tuple(config.data.image_size), seed)}
            started = time.time()
            metrics = run(config, data=data, verbose=0, callbacks=callbacks).metrics
            record = {"candidate": name, "seed": seed, "seconds": round(time.time() - started, 1),
                      "val": metrics["val"]["accuracy"], "test": metrics["test"]["accuracy"],
                      "unseen_val_shape": metrics["unseen_val"]["accuracy"]["shape"]}
            with open(args.output, "a") as handle:
                handle.write(json.dumps(record) + "\n")
            print(json.dumps(record), flush=True)


if __name__ == "__main__":
    main()
