"""Diagnosis runs: mixing images of a batch (mixup and its selective variants) on one seed.

Trains ``--method`` (with ``--point`` laid over it) on one seed of a generated data set,
every main batch first passed through a mixing step, ``lam * x_i + (1 - lam) * x_j`` with
``lam ~ Beta(alpha, alpha)`` and ``j`` a partner drawn at random in the batch by
``--mode``:

- ``within``: a partner of the same relevant-task class with another label of some other
  task (the nuisance); the relevant label stays (the two share it), and the label of every
  task where the two differ becomes missing (-1: left out of that task's loss). An image
  without such a partner is left as it is. (Yao et al., "Improving Out-of-Distribution
  Robustness via Selective Augmentation", LISA, ICML 2022: its intra-label variant, on the
  nuisance as the domain.)
- ``mixup``: any partner; every task's loss is ``lam * CE(y_i) + (1 - lam) * CE(y_j)``
  (the batch is passed twice, once with each image's labels and once with its partner's,
  weighted ``lam`` and ``1 - lam``). (Zhang et al., "mixup: Beyond Empirical Risk
  Minimization", ICLR 2018.)
- ``across``: as ``mixup``, a partner of another relevant class *and* another nuisance
  label where there is one (else any), so that mixed images hold the nuisance of one
  class with the object of another: the soft targets a missing combination lacks.

``--alpha 0`` mixes nothing.

The script patches the pipeline of an install that has no mixup of its own (the pilot runs
used that of commit ``3e58b7e``). The package's ``mixup`` (:mod:`disentangle_tf.data.mixing`)
is the ``mixup`` and ``across`` modes with the weights doubled (``2 lam``, ``2 (1 - lam)``,
averaging 1 as an unmixed batch's) and a stream of random numbers of its own; run it with
``grid_probe.py --point '{"mixup": 0.4}'``.

One JSON line per run: the relevant task's accuracy on every split the comparisons score
(the unseen combination included: a diagnosis records it, nothing chooses on it).

Usage (from outside the checkout, with a fixed install)::

    python experiments/mixing_probe.py digits-shadow --seed 200 --image-size 32 32 --alpha 2 \\
        --output experiments/results/mixing-diagnosis.jsonl
"""

from __future__ import annotations

import argparse
import json
import time

from probe_run import add_run_arguments, append_line, command_line, probe_run, relevant_accuracy


def soft_mixing(task: str, alpha: float, seed: int, across: bool):
    """A ``dataset.enumerate()`` map ``(step, (images, labels)) -> (images, labels, weights)``
    of twice the batch: the mixed images with their own labels (weight ``lam``), then again
    with their partners' (weight ``1 - lam``)."""
    import tensorflow as tf

    def mix(step, batch):
        images, labels = batch
        y = labels[task]
        count = tf.shape(y, out_type=tf.int64)[0]
        step_seed = tf.stack([tf.constant(seed, tf.int64), tf.cast(step, tf.int64)])
        scores = tf.random.stateless_uniform(tf.stack([count, count]), step_seed)
        if across:
            candidates = tf.not_equal(y[:, None], y[None, :])
            for name in labels:
                if name != task:
                    candidates &= tf.not_equal(labels[name][:, None], labels[name][None, :])
            has = tf.reduce_any(candidates, axis=1, keepdims=True)
            scores = tf.where(candidates | ~has, scores, -1.0)
        partner = tf.argmax(scores, axis=1)
        g1 = tf.random.stateless_gamma(tf.reshape(count, [1]), step_seed + 1, alpha)
        g2 = tf.random.stateless_gamma(tf.reshape(count, [1]), step_seed + 2, alpha)
        lam = g1 / (g1 + g2)
        mixed = (tf.cast(lam, images.dtype)[:, None, None, None] * images
                 + tf.cast(1 - lam, images.dtype)[:, None, None, None] * tf.gather(images, partner))
        both = {name: tf.concat([z, tf.gather(z, partner)], axis=0) for name, z in labels.items()}
        return tf.concat([mixed, mixed], axis=0), both, tf.concat([lam, 1 - lam], axis=0)

    return mix


def mixing(task: str, alpha: float, seed: int):
    """A ``dataset.enumerate()`` map ``(step, (images, labels)) -> (images, labels)``."""
    import tensorflow as tf

    def mix(step, batch):
        images, labels = batch
        y = labels[task]
        others = [name for name in labels if name != task]
        same_class = tf.equal(y[:, None], y[None, :]) & (y[:, None] >= 0)
        differs = tf.zeros_like(same_class)
        for name in others:
            z = labels[name]
            differs |= tf.not_equal(z[:, None], z[None, :]) & (z[:, None] >= 0) & (z[None, :] >= 0)
        candidates = same_class & differs
        step_seed = tf.stack([tf.constant(seed, tf.int64), tf.cast(step, tf.int64)])
        scores = tf.random.stateless_uniform(tf.shape(candidates, out_type=tf.int64), step_seed)
        partner = tf.argmax(tf.where(candidates, scores, -1.0), axis=1)
        has = tf.reduce_any(candidates, axis=1)
        g1 = tf.random.stateless_gamma(tf.shape(y, out_type=tf.int64), step_seed + 1, alpha)
        g2 = tf.random.stateless_gamma(tf.shape(y, out_type=tf.int64), step_seed + 2, alpha)
        lam = tf.where(has, g1 / (g1 + g2), 1.0)
        lam = tf.cast(lam, images.dtype)[:, None, None, None]
        mixed = lam * images + (1 - lam) * tf.gather(images, partner)
        new_labels = {task: y}
        for name in others:
            z = labels[name]
            new_labels[name] = tf.where(has & tf.not_equal(z, tf.gather(z, partner)), tf.constant(-1, z.dtype), z)
        return mixed, new_labels

    return mix


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_run_arguments(parser, method="lambda=0 precise-bn")
    parser.add_argument("--alpha", type=float, default=2.0, help="Beta(alpha, alpha) of the mixing weight; 0: none")
    parser.add_argument("--mode", choices=("within", "mixup", "across"), default="within")
    args = parser.parse_args(argv)
    method, config, data, task = probe_run(args)
    from disentangle_tf.run import training

    if args.alpha > 0:
        original = training.make_training_dataset

        def mixed_dataset(*positional, **keywords):
            dataset = original(*positional, **keywords)
            step = (mixing(task, args.alpha, args.seed) if args.mode == "within"
                    else soft_mixing(task, args.alpha, args.seed, across=args.mode == "across"))
            return dataset.enumerate().map(step)

        training.make_training_dataset = mixed_dataset
    started = time.time()
    result = training.run(config, data=data, verbose=0)
    line = {"command": command_line("mixing_probe.py", argv), "dataset": args.dataset, "method": method.name,
            "point": json.loads(args.point), "alpha": args.alpha, "mode": args.mode, "seed": args.seed,
            "epochs": args.epochs, "seconds": round(time.time() - started, 1),
            "accuracy": relevant_accuracy(result, task)}
    append_line(args.output, line)
    print(json.dumps({k: line[k] for k in ("point", "alpha", "mode", "seed", "seconds", "accuracy")}), flush=True)


if __name__ == "__main__":
    main()
