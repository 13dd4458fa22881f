"""Diagnosis runs: one setting of the selection grid at another number of epochs, on a pilot seed.

Usage (from outside the checkout, with the pilot's install): python epochs_probe.py VARIANT SEED JSON...,
each JSON a mapping of settings laid over the recommended setting; prints one JSON line per run
(the accuracies of the digit task on val, test and unseen). Its lines are kept in epochs_probe.jsonl.
"""
import sys, time, json
from disentangle_tf.data.digits import load_digits_dataset
from disentangle_tf.run.config import RunConfig
from disentangle_tf.run.training import run
from disentangle_tf.run.methods import METHODS
variant, seed = sys.argv[1], int(sys.argv[2])
data = load_digits_dataset(variant, (32, 32), seed)
for spec in sys.argv[3:]:
    settings = dict(METHODS["recommended"].settings)
    settings.update(json.loads(spec))
    cfg = RunConfig().replace({**settings, "image_size": [32, 32], "seed": seed})
    t = time.time(); r = run(cfg, data=data, verbose=0)
    print(json.dumps({"variant": variant, "seed": seed, "settings": json.loads(spec), "seconds": round(time.time() - t),
                      "accuracy": {k: v["accuracy"]["digit"] for k, v in r.metrics.items()}}), flush=True)
