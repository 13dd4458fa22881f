"""Throughput, memory and FLOP/s benchmarks of training, input pipelines and inference.

Run from the repository root::

    python -m benchmarks.run                      # default: 32x40 and 224x288
    python -m benchmarks.run --quick              # 32x40 only, fewer repeats
    python -m benchmarks.run --sizes 32x40 --repeats 7 --output /tmp/bench.json

Every timing is the median over ``--repeats`` measurements taken after ``--warmup``
untimed calls (the first call of a compiled function traces and compiles it). The
training configurations of one image size are timed in one subprocess, their repeats
interleaved; a configuration's time ratio to ``lambda0`` is the median over rounds of
the ratio within each round, whose runs share the machine's drifts. For memory, each
configuration then runs its warm-up steps and one more in a fresh subprocess. The
peak memory is that of TensorFlow's allocator during that last step
(``tf.config.experimental.get_memory_info("CPU:0")`` after
``reset_memory_stats``: every tensor alive at once, weights, optimizer slots and
batches included; the allocator keeps these statistics when oneDNN is on, the
package's default). The process's peak resident memory (``ru_maxrss``), less that of
a baseline subprocess that only builds the model, the data and the optimizers, is
reported beside it: it adds the traced graphs, kernels and memory the C library
keeps, and is the measure when the allocator keeps no statistics.

Measured:

- training steps (images of the main batch per second) of three configurations:
  ``lambda0`` (adversarial weight 0, no adversary updates: the floor), ``same``
  (weight 0.01, 5 adversary updates reusing the main batch's features) and ``fresh``
  (weight 0.01, 5 adversary updates on fresh batches, the paper's setting); and, for
  step time only, ``same_plain``: ``same`` with the adversary kernels updated in full
  every step instead of in factored form. The
  compiled train function is called directly on a batch held in memory, so the input
  pipeline is not part of the step time;
- the input pipelines alone: :func:`disentangle_tf.data.make_training_dataset` on
  in-memory arrays; PNG files (of the synthetic shapes, and of simulated ultrasound,
  which compress and decode like scans) read by
  :func:`disentangle_tf.data.images.read_images` (parallel decoding, batched
  resizing: how a manifest is loaded, once per run); and a data set converted once
  to HDF5 read back by :func:`disentangle_tf.data.hdf5.read_hdf5`;
- the exported SavedModel: batch-50 throughput and single-image latency;
- the FLOP/s the ``lambda0`` step achieves, against this machine's float32 matmul peak:
  chained 2048 x 2048 matmuls timed in every round of the training steps, in the same
  process and with the same thread pools (two independent chains when each op has one
  thread), the share taken within each round and its median over the rounds; and, for
  reference, against the peak measured separately before and after the training
  processes (TensorFlow's pools; the higher of the two);
- generating the paper's 1,800 synthetic images (train, val, test) at 224x288.

Results are printed as a table and written as JSON (``--output``; an existing file is
never overwritten without ``--overwrite``: the results go to a timestamped name).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

from .harness import (machine, ADVERSARY_STEPS, BATCH_SIZE, CONFIGURATIONS, DEFAULT_OUTPUT, PAPER_SIZE, ROOT,
                      STEP_TIME_ONLY, allocator_mib, base_configuration, bench_matmul_peak,
                      build_model, interleaved_times, is_large, matmul_runner,
                      model_flops_per_image, parse_size, peak_rss_mib, repeats_for,
                      reset_allocator_peak, size_name, step_runner, synthetic_tasks, training_batch,
                      write_results)
from .inputs import (bench_export, bench_hdf5, bench_pipeline_arrays, bench_pipeline_png,
                     bench_synthetic, write_pngs)


def worker_train(spec: dict) -> dict:
    """Peak memory of one configuration's training (or of building only: baseline).

    The configuration runs ``warmup`` steps and one more, in a process of its own, so
    that the peak resident memory is its own; the allocator's peak is that of the
    last step (the warm-up steps trace the step and build what it keeps).
    """
    size = tuple(spec["size"])
    configuration = spec["configuration"]
    model = build_model(size, configuration if configuration != "baseline" else "fresh",
                        jit_compile=spec.get("jit_compile", False))
    # The fresh configuration's element holds the main batch and the adversary batches;
    # the others use its main batch only.
    element = training_batch(size, ADVERSARY_STEPS)
    result = {"configuration": configuration, "size": list(size)}
    if configuration != "baseline":
        batch = element if CONFIGURATIONS[configuration][2] == "fresh" else element[0]
        run = step_runner(model, batch, 1)
        for _ in range(spec["warmup"]):
            run()
        resident = allocator_mib()
        if resident is not None:
            reset_allocator_peak()
        run()
        if resident is not None:
            result["tensors_between_steps_mib"] = resident[0]
            result["tensors_peak_mib"] = allocator_mib()[1]
    result["peak_rss_mib"] = peak_rss_mib()
    return result


def worker_step_times(spec: dict) -> dict:
    """Step time of every configuration, timed in one process with repeats interleaved."""
    size = tuple(spec["size"])
    element = training_batch(size, ADVERSARY_STEPS)
    # The machine's matmul peak, timed in every round with the training steps: the
    # host's speed drifts within minutes, and the step's share of the peak is a ratio.
    import tensorflow as tf

    one_thread_per_op = tf.config.threading.get_intra_op_parallelism_threads() == 1
    chains = max(tf.config.threading.get_inter_op_parallelism_threads(), 1) if one_thread_per_op else 1
    peak_run, peak_flops = matmul_runner(chains)
    runners = {"matmul_peak": peak_run}
    for configuration in (*CONFIGURATIONS, *STEP_TIME_ONLY):
        model = build_model(size, configuration, jit_compile=spec.get("jit_compile", False))
        batch = element if CONFIGURATIONS[base_configuration(configuration)][2] == "fresh" else element[0]
        runners[configuration] = step_runner(model, batch, spec["steps"])
    times = interleaved_times(runners, spec["repeats"], spec["warmup"])
    peak_times = times.pop("matmul_peak")
    result = {"matmul_peak": {"flops_per_second": peak_flops / statistics.median(peak_times),
                              "flops_per_second_all": [peak_flops / t for t in peak_times]}}
    for configuration, values in times.items():
        step_seconds = statistics.median(values) / spec["steps"]
        # The ratio within each round of the interleaving, whose runs share the machine's
        # load, and its median over the rounds.
        ratios = [value / floor for value, floor in zip(values, times["lambda0"])]
        result[configuration] = {
            "step_seconds": step_seconds,
            "step_seconds_all": [t / spec["steps"] for t in values],
            "images_per_second": BATCH_SIZE / step_seconds,
            "time_ratio_to_lambda0": statistics.median(ratios),
            "time_ratio_to_lambda0_all": ratios,
        }
    return result


def run_worker(spec: dict) -> dict:
    """Run ``worker_train(spec)`` in a fresh Python process and return its result."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONWARNINGS="ignore")
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--worker", json.dumps(spec)],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False,
    )
    lines = [line for line in completed.stdout.splitlines() if line.startswith("{")]
    if completed.returncode != 0 or not lines:
        raise RuntimeError(f"benchmark worker {spec} failed:\n{completed.stderr[-3000:]}")
    return json.loads(lines[-1])


# ---------------------------------------------------------------------- report
def targets(results: dict) -> list[dict]:
    """Each performance target, its measured value and whether it is met."""
    rows = []
    for size, train in results["training"].items():
        floor = train["lambda0"]
        rows.append({"target": f"same / lambda0 step time <= 1.15 ({size})",
                     "value": train["same"]["time_ratio_to_lambda0"], "limit": 1.15})
        rows.append({"target": f"fresh / lambda0 step time <= 2.8 ({size})",
                     "value": train["fresh"]["time_ratio_to_lambda0"], "limit": 2.8})
        for name in ("same", "fresh"):
            if floor["peak_memory_mib"] > 0:
                rows.append({"target": f"{name} / lambda0 peak memory <= 1.3 ({size})",
                             "value": train[name]["peak_memory_mib"] / floor["peak_memory_mib"],
                             "limit": 1.3})
        pipeline = results["pipeline"].get(size, {})
        for name in ("arrays", "arrays_fresh", "png", "png_ultrasound", "hdf5"):
            if name in pipeline:
                rows.append({"target": f"pipeline {name} / lambda0 training images/s >= 10 ({size})",
                             "value": pipeline[name]["ratio_to_lambda0_training"], "limit": 10,
                             "at_least": True})
    for size, flops in results.get("flops", {}).items():
        rows.append({"target": f"lambda0 step FLOP/s / matmul peak >= 0.45 ({size})",
                     "value": flops["fraction_of_peak"], "limit": 0.45, "at_least": True})
    if "synthetic" in results:
        rows.append({"target": "synthetic 1,800 images at 224x288 < 2 s",
                     "value": results["synthetic"]["seconds"], "limit": 2.0})
    for row in rows:
        at_least = row.pop("at_least", False)
        row["met"] = bool(row["value"] >= row["limit"] if at_least else row["value"] <= row["limit"])
    return rows


def print_table(results: dict) -> None:
    print()
    print(f"{'size':>10} {'config':>10} {'step s':>9} {'images/s':>9} {'x lambda0':>9} {'peak MiB':>9} "
          f"{'x lambda0':>9} {'RSS MiB':>9}")
    for size, train in results["training"].items():
        floor = train["lambda0"]
        for name, row in train.items():
            memory, rss = row["peak_memory_mib"], row["rss_above_baseline_mib"]
            memory_columns = (f"{memory:9.0f} {memory / max(floor['peak_memory_mib'], 1e-9):9.2f} {rss:9.0f}"
                              if memory is not None else f"{'-':>9} {'-':>9} {'-':>9}")
            print(f"{size:>10} {name:>10} {row['step_seconds']:9.4f} {row['images_per_second']:9.1f} "
                  f"{row['time_ratio_to_lambda0']:9.2f} {memory_columns}")
    allocator = all(train["lambda0"].get("peak_memory_measure") == "tensors"
                    for train in results["training"].values())
    print("peak MiB: " + ("TensorFlow's allocator, all tensors alive during one step" if allocator else
                          "process peak RSS above the baseline process") +
          "; RSS MiB: process peak RSS above the baseline process")
    print()
    print(f"{'size':>8} {'pipeline':>14} {'images/s':>10} {'x training':>10}")
    for size, pipelines in results["pipeline"].items():
        for name, row in pipelines.items():
            print(f"{size:>8} {name:>14} {row['images_per_second']:10.0f} {row['ratio_to_lambda0_training']:10.1f}")
    print()
    for size, row in results["export"].items():
        print(f"SavedModel {size}: {row['batch_images_per_second']:.1f} images/s at batch {BATCH_SIZE}, "
              f"single image {row['single_image_latency_ms']:.1f} ms")
    peak = results["matmul_peak"]["flops_per_second"]
    print(f"matmul peak ({results['matmul_peak']['matrix']}^2 float32), separate: {peak / 1e9:.1f} GFLOP/s")
    for size, row in results["flops"].items():
        in_rounds = results["matmul_peak_in_rounds"][size]["flops_per_second"]
        print(f"lambda0 step {size}: {row['gflop_per_step']:.1f} GFLOP/step, "
              f"{row['flops_per_second'] / 1e9:.1f} GFLOP/s; {100 * row['fraction_of_peak']:.1f}% of the peak "
              f"in the same rounds ({in_rounds / 1e9:.1f} GFLOP/s), "
              f"{100 * row['fraction_of_separate_peak']:.1f}% of the separate peak")
    if "synthetic" in results:
        s = results["synthetic"]
        print(f"synthetic {s['images']} images at {size_name(s['image_size'])}: {s['seconds']:.2f} s")
    print()
    for row in results["targets"]:
        print(f"[{'met' if row['met'] else 'NOT met':>7}] {row['target']}: {row['value']:.3g}")
    threads = results.get("training_threads")
    print(f"training threads (intra-op, inter-op): {threads or 'TensorFlow defaults'}")
    print(f"\nbenchmark time: {results['benchmark_seconds']:.0f} s")


# ---------------------------------------------------------------------- main
def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=7, help="timed repeats at small sizes (default 7)")
    parser.add_argument("--large-repeats", type=int, default=4,
                        help="timed repeats of training steps at sizes of 100x100 or more (default 4; one warm-up step)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed calls before timing (default 2)")
    parser.add_argument("--steps", type=int, default=5,
                        help="training steps per timed repeat at small sizes (default 5)")
    parser.add_argument("--sizes", default="32x40,224x288",
                        help="comma-separated image sizes HxW (default 32x40,224x288)")
    parser.add_argument("--output", type=pathlib.Path, default=DEFAULT_OUTPUT,
                        help="JSON results file (default benchmarks/results.json)")
    parser.add_argument("--overwrite", action="store_true", help="overwrite an existing --output file")
    parser.add_argument("--quick", action="store_true",
                        help="32x40 only, 3 repeats, 1 warm-up, no synthetic generation at 224x288")
    parser.add_argument("--jit-compile", action="store_true", help="compile the training steps with XLA")
    parser.add_argument("--threads", choices=("auto", "tensorflow"), default="auto",
                        help="thread pools of the training processes, as the train command's --threads "
                             "(default auto); the other measurements keep TensorFlow's defaults")
    parser.add_argument("--png-files", type=int, default=500, help="PNG files of the manifest benchmark")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.repeats, args.warmup, args.large_repeats = "32x40", 3, 1, 2
        args.png_files = min(args.png_files, 200)
    args.sizes = [parse_size(s) for s in args.sizes.split(",") if s]
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.worker:
        spec = json.loads(args.worker)
        from disentangle_tf.fast.threads import configure_threads

        # As the train command does, before TensorFlow runs an op.
        threads = configure_threads(spec.get("threads", "auto"), len(synthetic_tasks()))
        worker = worker_step_times if spec.get("configuration") == "step_times" else worker_train
        print(json.dumps({**worker(spec), "threads": threads}))
        return {}
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    started = time.perf_counter()
    results = {"command": " ".join(["python -m benchmarks.run", *(argv if argv is not None else sys.argv[1:])]),
               "date": datetime.datetime.now().isoformat(timespec="seconds"),
               "batch_size": BATCH_SIZE, "adversary_steps": ADVERSARY_STEPS,
               "jit_compile": args.jit_compile, "threads": args.threads,
               "memory_method": "peak_memory_mib: peak of TensorFlow's CPU allocator during one step after "
                                "warm-up (all live tensors), where it keeps statistics; rss_above_baseline_mib: "
                                "peak RSS (ru_maxrss) of a fresh process per configuration minus that of a "
                                "process that only builds the model, data and optimizers",
               "training": {}, "pipeline": {}, "export": {}, "flops": {}, "matmul_peak_in_rounds": {}}

    # The matmul peak is measured before the training processes and again after them;
    # the higher of the two is the machine's peak (a slow phase of the host would
    # otherwise understate it and overstate the training step's share of it).
    print("matmul peak", flush=True)
    peak_before = bench_matmul_peak(args.repeats, args.warmup)

    # Training configurations, each in its own process (memory).
    for size in args.sizes:
        repeats, warmup, steps = repeats_for(size, args)
        name = size_name(size)
        print(f"training {name}: baseline", flush=True)
        baseline = run_worker({"configuration": "baseline", "size": list(size), "threads": args.threads})
        print(f"training {name}: step times, configurations interleaved", flush=True)
        step_times = run_worker({"configuration": "step_times", "size": list(size), "repeats": repeats,
                                 "warmup": warmup, "steps": steps, "jit_compile": args.jit_compile,
                                 "threads": args.threads})
        results["training_threads"] = step_times.pop("threads")
        results["matmul_peak_in_rounds"][name] = step_times.pop("matmul_peak")
        results["training"][name] = {}
        for configuration in CONFIGURATIONS:
            print(f"training {name}: {configuration} peak memory", flush=True)
            row = run_worker({"configuration": configuration, "size": list(size), "warmup": warmup,
                              "jit_compile": args.jit_compile, "threads": args.threads})
            row.pop("threads")
            row.update(step_times[configuration])
            row["baseline_rss_mib"] = baseline["peak_rss_mib"]
            row["rss_above_baseline_mib"] = row["peak_rss_mib"] - baseline["peak_rss_mib"]
            # The allocator's peak where it keeps statistics (tensors only, exact); else
            # the process's resident memory above the baseline process.
            row["peak_memory_mib"] = row.get("tensors_peak_mib", row["rss_above_baseline_mib"])
            row["peak_memory_measure"] = "tensors" if "tensors_peak_mib" in row else "rss_above_baseline"
            results["training"][name][configuration] = row
        for configuration in STEP_TIME_ONLY:
            results["training"][name][configuration] = {**step_times[configuration], "peak_memory_mib": None,
                                                         "rss_above_baseline_mib": None}

    results["machine"] = machine()
    print("matmul peak", flush=True)
    peak_after = bench_matmul_peak(args.repeats, args.warmup)
    results["matmul_peak"] = {
        **max(peak_before, peak_after, key=lambda peak: peak["flops_per_second"]),
        "flops_per_second_before_training": peak_before["flops_per_second"],
        "flops_per_second_after_training": peak_after["flops_per_second"],
    }
    for size in args.sizes:
        name = size_name(size)
        flops = model_flops_per_image(size)
        floor = results["training"][name]["lambda0"]
        per_step = flops["lambda0_training_step"] * BATCH_SIZE
        # The share of the peak within each round (step and matmul timed minutes apart
        # could fall in different phases of the host), and its median over the rounds.
        in_rounds = [per_step / step / peak for step, peak in
                     zip(floor["step_seconds_all"], results["matmul_peak_in_rounds"][name]["flops_per_second_all"])]
        results["flops"][name] = {
            **flops, "gflop_per_step": per_step / 1e9, "flops_per_second": per_step / floor["step_seconds"],
            "fraction_of_peak": statistics.median(in_rounds),
            "fraction_of_peak_all": in_rounds,
            "fraction_of_separate_peak": per_step / floor["step_seconds"] / results["matmul_peak"]["flops_per_second"],
        }

    with tempfile.TemporaryDirectory() as temporary:
        temporary = pathlib.Path(temporary)
        print("writing PNG files", flush=True)
        png_paths = {}
        for source in ("synthetic", "ultrasound"):
            (temporary / source).mkdir()
            png_paths[source] = write_pngs(temporary / source, args.png_files, PAPER_SIZE, source)
        for size in args.sizes:
            name = size_name(size)
            print(f"pipelines {name}", flush=True)
            train = results["training"][name]
            pipelines = {
                "arrays": bench_pipeline_arrays(size, args.repeats, args.warmup, 0),
                "arrays_fresh": bench_pipeline_arrays(size, args.repeats, args.warmup, ADVERSARY_STEPS),
                "png": bench_pipeline_png(png_paths["synthetic"], size, args.repeats, args.warmup),
                "png_ultrasound": bench_pipeline_png(png_paths["ultrasound"], size, args.repeats, args.warmup),
                "hdf5": bench_hdf5(temporary, size, args.repeats, args.warmup),
            }
            for row in pipelines.values():
                row["ratio_to_lambda0_training"] = (row["images_per_second"]
                                                    / train["lambda0"]["images_per_second"])
            pipelines["arrays_fresh"]["ratio_to_fresh_training"] = (
                pipelines["arrays_fresh"]["images_per_second"] / train["fresh"]["images_per_second"])
            results["pipeline"][name] = pipelines
            print(f"export {name}", flush=True)
            large = is_large(size)
            results["export"][name] = bench_export(size, temporary, 3 if large else args.repeats,
                                                   1 if large else args.warmup)

    if not args.quick:
        print("synthetic generation", flush=True)
        results["synthetic"] = bench_synthetic(3)
    results["targets"] = targets(results)
    results["benchmark_seconds"] = time.perf_counter() - started
    path = write_results(results, args.output, args.overwrite)
    print_table(results)
    print(f"results written to {path}")
    return results


if __name__ == "__main__":
    main()
