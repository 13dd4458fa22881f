"""Where the training step spends its time, and candidate optimisations timed as ratios.

Run from the repository root::

    python -m benchmarks.profile                    # 32x40, about 8 minutes on 2 cores
    python -m benchmarks.profile --sizes 32x40,112x144 --output /tmp/profile.json

Reports, each in one process so that the ratios share the machine's load:

- an op breakdown of the ``lambda0`` training step from a ``tf.profiler`` trace (time
  per op type and per layer kind, as a share of the summed op time);
- the op time the ``same`` step adds to the ``lambda0`` step, per op type, the
  adversaries' ops counted apart (``--difference-sizes``, default 224x288);
- step-time ratios, repeats interleaved: XLA (``jit_compile=True``) against the default
  graph executor, and the ``fresh`` step with all adversary batches encoded in one
  grouped pass and the updates unrolled against the package's loop (one encoder pass
  per adversary step inside a ``tf.while_loop``);
- runtime settings: TensorFlow's default thread pools, oneDNN kernels off
  (``TF_ENABLE_ONEDNN_OPTS=0``) and ``intra_op=2, inter_op=1`` threads against the
  package's defaults (the train command's thread split; separate processes,
  alternated, since these are fixed when the runtime starts), and a one-task model
  with TensorFlow's pools (what the split leaves it) against one thread per op;
- batch normalisation: a forward + backward of Keras ``BatchNormalization`` against
  ``tf.nn.fused_batch_norm`` on the encoder's feature-map shapes, and the whole
  ``lambda0`` step with the encoders' and heads' :class:`FusedBatchNormalization`
  layers sent through the Keras computation.
"""

from __future__ import annotations

import argparse
import collections
import glob
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

from disentangle_tf.fast.threads import configure_threads

from .harness import (ADVERSARY_STEPS, BATCH_SIZE, ROOT, build_model, interleaved_times, is_large,
                  parse_size, size_name, step_runner, synthetic_tasks, timed, training_batch,
                  write_results)


def _layer_kind(name: str) -> str:
    lowered = name.lower()
    for kind, keys in (("optimizer", ("adam/", "sgd/")), ("batch_norm", ("_bn", "/bn", "final_bn")),
                       ("conv", ("conv", "projection")), ("activation", ("_act", "relu")),
                       ("pool_pad_add", ("_pool", "_pad", "_add")),
                       ("dense", ("dense", "logits")), ("loss_metrics", ("cross_entropy", "mean", "accuracy"))):
        if any(key in lowered for key in keys):
            return kind
    return "other"


def _traced_op_seconds(size, configuration: str, steps: int) -> collections.Counter:
    """Summed op seconds per step, keyed by ``(op name, op type)``, from a trace."""
    import tensorflow as tf
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    model = build_model(size, configuration)
    element = training_batch(size, ADVERSARY_STEPS if configuration == "fresh" else 0)
    run = step_runner(model, element, 1)
    run()
    run()
    with tempfile.TemporaryDirectory() as logdir:
        tf.profiler.experimental.start(logdir)
        for _ in range(steps):
            run()
        tf.profiler.experimental.stop()
        path = sorted(glob.glob(os.path.join(logdir, "plugins", "profile", "*", "*.xplane.pb")))[-1]
        space = xplane_pb2.XSpace()
        space.ParseFromString(pathlib.Path(path).read_bytes())
    seconds = collections.Counter()
    for plane in space.planes:
        for line in plane.lines:
            if not line.name.startswith("tf_Compute"):
                continue
            for event in line.events:
                name = plane.event_metadata[event.metadata_id].name
                if ":" not in name or "::" in name:
                    continue
                seconds[tuple(name.rsplit(":", 1))] += event.duration_ps / 1e12 / steps
    return seconds


def op_breakdown(size, steps: int = 3) -> dict:
    """Share of the summed op time per op type and per layer kind, from a trace."""
    by_type, by_kind = collections.Counter(), collections.Counter()
    for (op_name, op_type), seconds in _traced_op_seconds(size, "lambda0", steps).items():
        by_type[op_type] += seconds
        by_kind[_layer_kind(op_name)] += seconds
    total = sum(by_type.values()) or 1
    return {
        "op_seconds_per_step": total,
        "op_types": {k: v / total for k, v in by_type.most_common(15)},
        "layer_kinds": {k: v / total for k, v in by_kind.most_common()},
    }


def configuration_difference(size, steps: int, base: str = "lambda0", other: str = "same") -> dict:
    """Op seconds per step that ``other`` adds to ``base``, per op type.

    Op types inside the adversaries are counted apart (``"MatMul [adversary]"``), so
    that the adversaries' updates show against the encoders' work.
    """
    def by_type(configuration):
        totals = collections.Counter()
        for (op_name, op_type), seconds in _traced_op_seconds(size, configuration, steps).items():
            totals[op_type + (" [adversary]" if "adversar" in op_name.lower() else "")] += seconds
        return totals

    before, after = by_type(base), by_type(other)
    added = {key: after[key] - before.get(key, 0.0) for key in after}
    top = sorted(added, key=added.get, reverse=True)[:12]
    return {
        "configurations": [base, other],
        "op_seconds_per_step": {base: sum(before.values()), other: sum(after.values())},
        "added_seconds_per_step": {key: added[key] for key in top},
    }


def interleaved(runners: dict, repeats: int, warmup: int) -> dict:
    """Median seconds of each runner, repeats interleaved across runners."""
    times = interleaved_times(runners, repeats, warmup)
    return {name: statistics.median(values) for name, values in times.items()}


def _grouped_model(size):
    """A ``fresh`` model that encodes all adversary batches in one pass, then updates."""
    from keras import ops

    model = build_model(size, "fresh")
    package_steps = model._train_adversaries

    def grouped(features, labels, fresh):
        if fresh is None:
            return package_steps(features, labels, fresh)
        images, adversary_labels = fresh
        steps = model.adversary_steps
        stacked = ops.reshape(ops.transpose(images, [1, 0, 2, 3, 4]), (-1, *images.shape[2:]))
        encoded = [ops.stop_gradient(e(stacked, training=True)) for e in model.encoders]
        chunks = [ops.split(f, steps) for f in encoded]
        label_chunks = [ops.split(ops.reshape(ops.transpose(y), (-1,)), steps) for y in adversary_labels]
        for step in range(steps):
            model._adversary_update([c[step] for c in chunks], [c[step] for c in label_chunks])

    model._train_adversaries = grouped
    return model


def _keras_batch_norm_model(size):
    """A ``lambda0`` model whose batch normalisation runs Keras's own (unfused) computation."""
    from disentangle_tf.models import FusedBatchNormalization

    model = build_model(size, "lambda0")
    for submodel in [*model.encoders, *model.classifiers, *model.adversaries]:
        for layer in submodel.layers:
            if isinstance(layer, FusedBatchNormalization):
                layer._fused_applies = lambda *args: False
    return model


def step_variants(size, repeats: int, warmup: int, steps: int) -> dict:
    element = training_batch(size, ADVERSARY_STEPS)
    runners = {
        "lambda0": step_runner(build_model(size, "lambda0"), element[0], steps),
        "lambda0_xla": step_runner(build_model(size, "lambda0", jit_compile=True), element[0], steps),
        "lambda0_keras_bn": step_runner(_keras_batch_norm_model(size), element[0], steps),
        "fresh_loop": step_runner(build_model(size, "fresh"), element, steps),
        "fresh_grouped": step_runner(_grouped_model(size), element, steps),
    }
    seconds = {name: t / steps for name, t in interleaved(runners, repeats, warmup).items()}
    return {
        "step_seconds": seconds,
        "xla_over_default": seconds["lambda0_xla"] / seconds["lambda0"],
        "keras_bn_over_fused_bn": seconds["lambda0_keras_bn"] / seconds["lambda0"],
        "grouped_over_loop": seconds["fresh_grouped"] / seconds["fresh_loop"],
    }


def batch_norm_micro(repeats: int, warmup: int) -> dict:
    """Forward + backward (training mode) of Keras BN against the fused TF kernel."""
    import keras
    import tensorflow as tf

    results = {}
    for shape in [(BATCH_SIZE, 32, 40, 8), (BATCH_SIZE, 16, 20, 16), (BATCH_SIZE, 112, 144, 16),
                  (BATCH_SIZE, 56, 72, 32)]:
        x = tf.random.normal(shape)
        layer = keras.layers.BatchNormalization()
        layer.build(shape)
        scale = tf.Variable(tf.ones(shape[-1]))
        offset = tf.Variable(tf.zeros(shape[-1]))

        @tf.function
        def keras_bn(x):
            with tf.GradientTape() as tape:
                tape.watch(x)
                y = layer(x, training=True)
                loss = tf.reduce_sum(y * y)
            return tape.gradient(loss, [x, *layer.trainable_variables])

        @tf.function
        def fused_bn(x):
            with tf.GradientTape() as tape:
                tape.watch(x)
                y, _, _ = tf.compat.v1.nn.fused_batch_norm(x, scale, offset, epsilon=1e-3, is_training=True)
                loss = tf.reduce_sum(y * y)
            return tape.gradient(loss, [x, scale, offset])

        loops = 20 if shape[1] < 100 else 3
        runners = {
            "keras": lambda f=keras_bn, x=x: [f(x)[0].numpy() for _ in range(loops)],
            "fused": lambda f=fused_bn, x=x: [f(x)[0].numpy() for _ in range(loops)],
        }
        seconds = interleaved(runners, repeats, warmup)
        results["x".join(map(str, shape))] = {
            "keras_ms": 1000 * seconds["keras"] / loops, "fused_ms": 1000 * seconds["fused"] / loops,
            "keras_over_fused": seconds["keras"] / seconds["fused"],
        }
    return results


def runtime_worker(size, repeats: int, warmup: int, steps: int, tasks: int = 2) -> float:
    run = step_runner(build_model(size, "lambda0", task_count=tasks), training_batch(size, 0), steps)
    return statistics.median(timed(run, repeats, warmup)) / steps


RUNTIME_SETTINGS = {
    # name: (environment, intra-op and inter-op threads, or "auto" for the package's
    # default split, or None for TensorFlow's defaults; tasks of the model)
    "default": ({}, "auto", 2),
    "tensorflow_threads": ({}, None, 2),
    "onednn_off": ({"TF_ENABLE_ONEDNN_OPTS": "0"}, "auto", 2),
    "intra2_inter1": ({}, (2, 1), 2),
    "single_task": ({}, "auto", 1),  # auto keeps TensorFlow's defaults for one task
    "single_task_split": ({}, (1, 2), 1),
}


def runtime_settings(size, rounds: int, repeats: int, warmup: int, steps: int) -> dict:
    """Median ``lambda0`` step seconds under each runtime setting (alternated processes).

    Both settings are fixed when the TensorFlow runtime starts, so each measurement is a
    fresh process; the settings take turns so that they share the machine's drifts.
    """
    seconds = {name: [] for name in RUNTIME_SETTINGS}
    for _ in range(rounds):
        for name, (environment, threads, tasks) in RUNTIME_SETTINGS.items():
            env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", **environment)
            spec = {"size": list(size), "repeats": repeats, "warmup": warmup, "steps": steps,
                    "threads": threads, "tasks": tasks}
            out = subprocess.run([sys.executable, "-m", "benchmarks.profile", "--worker", json.dumps(spec)],
                                 cwd=ROOT, env=env, capture_output=True, text=True, check=True).stdout
            seconds[name].append(float(out.strip().splitlines()[-1]))
    medians = {name: statistics.median(values) for name, values in seconds.items()}
    two_tasks = [name for name, (_, _, tasks) in RUNTIME_SETTINGS.items() if tasks == 2 and name != "default"]
    return {"step_seconds": medians, "step_seconds_all": seconds,
            **{f"{name}_over_default": medians[name] / medians["default"] for name in two_tasks},
            "single_task_split_over_single_task": medians["single_task_split"] / medians["single_task"]}


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile", description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="32x40")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--difference-sizes", default="224x288",
                        help="sizes at which the op time 'same' adds to 'lambda0' is traced ('' for none)")
    parser.add_argument("--output", type=pathlib.Path, default=None,
                        help="also write the results as JSON (an existing file is kept: a timestamped name is used)")
    parser.add_argument("--overwrite", action="store_true", help="overwrite an existing --output file")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        spec = json.loads(args.worker)
        import tensorflow as tf

        if spec["threads"] == "auto":
            configure_threads("auto", spec["tasks"])
        elif spec["threads"]:
            intra, inter = spec["threads"]
            tf.config.threading.set_intra_op_parallelism_threads(intra)
            tf.config.threading.set_inter_op_parallelism_threads(inter)
        print(runtime_worker(tuple(spec["size"]), spec["repeats"], spec["warmup"], spec["steps"], spec["tasks"]))
        return
    # The traces and step variants run with the train command's thread pools.
    configure_threads("auto", len(synthetic_tasks()))
    started = time.perf_counter()
    sizes = [parse_size(s) for s in args.sizes.split(",") if s]
    results = {"breakdown": {}, "variants": {}}
    for size in sizes:
        small = not is_large(size)
        print(f"op breakdown {size_name(size)}", flush=True)
        results["breakdown"][size_name(size)] = op_breakdown(size, 3 if small else 1)
        print(f"step variants {size_name(size)}", flush=True)
        results["variants"][size_name(size)] = step_variants(size, args.repeats if small else 2,
                                                             2 if small else 1, 5 if small else 1)
    results["same_over_lambda0"] = {}
    for size in [parse_size(s) for s in args.difference_sizes.split(",") if s]:
        print(f"same against lambda0 {size_name(size)}", flush=True)
        small = not is_large(size)
        results["same_over_lambda0"][size_name(size)] = configuration_difference(size, 10 if small else 2)
    print("batch norm", flush=True)
    results["batch_norm"] = batch_norm_micro(args.repeats, 2)
    print("runtime settings", flush=True)
    results["runtime_settings"] = runtime_settings(sizes[0], 3, args.repeats, 2, 5)
    results["seconds"] = time.perf_counter() - started
    print(json.dumps(results, indent=2))
    if args.output:
        print(f"results written to {write_results(results, args.output, args.overwrite)}")


if __name__ == "__main__":
    main()
