"""The package's ``lambda0`` training step against a plain PyTorch step of the same network.

Run from the repository root, with the package's Python, giving the Python of a
separate environment that has PyTorch (torch is not a dependency of the package)::

    python3 -m venv /tmp/torchvenv
    /tmp/torchvenv/bin/pip install torch==2.13.0 numpy
    python -m benchmarks.compare_torch --torch-python /tmp/torchvenv/bin/python

Each round runs, one after the other, a TensorFlow worker process (the ``lambda0``
model of :func:`benchmarks.harness.build_model`, timed with :func:`benchmarks.harness.step_runner`,
and :func:`benchmarks.harness.bench_matmul_peak`) and a PyTorch process
(``benchmarks/reference_torch.py``: the same network, loss and Adam step written with
``torch.nn``, and the same matmul chain). The order of the two alternates between
rounds, so both share the machine's drifts; the torch / TF ratio of each size is the
median over rounds of the ratio within a round. Timings follow ``benchmarks.run``: the
median of ``--repeats`` repeats of ``--steps`` steps after ``--warmup`` untimed
repeats, and one step per repeat (``--large-repeats`` of them, after one warm-up step)
at sizes of 100x100 or more.

Both implement the same network, so the FLOPs of a step are those of
:func:`benchmarks.harness.model_flops_per_image`; each framework's achieved FLOP/s is
reported as a percentage of its own matmul peak and of TensorFlow's. The parameter
counts of every encoder and head are compared between the two implementations.

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
import time

from .harness import (ADVERSARY_STEPS, BATCH_SIZE, DEFAULT_SIZE, PAPER_SIZE, ROOT, parse_size, size_name,
                  write_results)

HERE = pathlib.Path(__file__).resolve().parent
TORCH_SCRIPT = HERE / "reference_torch.py"
DEFAULT_OUTPUT = HERE / "torch_comparison.json"
WORKER_ENV = {"TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONWARNINGS": "ignore"}


# ---------------------------------------------------------------------- TensorFlow worker
def tf_parameter_counts(model) -> dict:
    """Trainable and non-trainable values of every encoder and head of ``model``."""
    counts = {}
    for submodel in (*model.encoders, *model.classifiers, *model.adversaries):
        counts[submodel.name] = {
            "trainable": sum(int(v.shape.num_elements()) for v in submodel.trainable_variables),
            "non_trainable": sum(int(v.shape.num_elements()) for v in submodel.non_trainable_variables),
        }
    return counts


def tf_environment() -> dict:
    """TensorFlow version, threads and oneDNN setting of the worker."""
    import tensorflow as tf
    from tensorflow.python.util import _pywrap_util_port

    return {
        "tensorflow": tf.__version__,
        "onednn_enabled": bool(_pywrap_util_port.IsMklEnabled()),
        "intra_op_threads_setting": tf.config.threading.get_intra_op_parallelism_threads(),
        "inter_op_threads_setting": tf.config.threading.get_inter_op_parallelism_threads(),
        "TF_ENABLE_ONEDNN_OPTS": os.environ.get("TF_ENABLE_ONEDNN_OPTS"),
        "cpus": os.cpu_count(),
    }


def tf_worker(spec: dict) -> dict:
    """Step time of the ``lambda0`` model at every size, then TensorFlow's matmul peak."""
    from disentangle_tf.fast.onednn import prefer_onednn

    prefer_onednn()  # TF_ENABLE_ONEDNN_OPTS as the commands set it, before TensorFlow loads

    from .harness import (bench_matmul_peak, build_model, is_large, model_flops_per_image, step_runner,
                      timed, training_batch)

    result = {"load_average_start": os.getloadavg(), "environment": tf_environment(), "training": {}}
    for size in map(tuple, spec["sizes"]):
        if is_large(size):
            repeats, warmup, steps = spec["large_repeats"], 1, 1
        else:
            repeats, warmup, steps = spec["repeats"], spec["warmup"], spec["steps"]
        model = build_model(size, "lambda0")
        batch = training_batch(size, ADVERSARY_STEPS)[0]  # the main batch, as benchmarks.run
        times = [t / steps for t in timed(step_runner(model, batch, steps), repeats, warmup)]
        row = {"step_seconds": statistics.median(times), "step_seconds_all": times,
               "repeats": repeats, "warmup": warmup, "steps": steps}
        if spec.get("details"):
            row["parameter_counts"] = tf_parameter_counts(model)
            row["flops_per_image"] = model_flops_per_image(size)
        result["training"][size_name(size)] = row
    result["matmul_peak"] = bench_matmul_peak(spec["matmul_repeats"], 2)
    result["load_average_end"] = os.getloadavg()
    return result


# ---------------------------------------------------------------------- processes
def last_json_line(completed: subprocess.CompletedProcess, what: str) -> dict:
    lines = [line for line in completed.stdout.splitlines() if line.startswith("{")]
    if completed.returncode != 0 or not lines:
        raise RuntimeError(f"{what} failed (exit {completed.returncode}):\n{completed.stderr[-3000:]}")
    return json.loads(lines[-1])


def run_tf_worker(spec: dict) -> dict:
    """Run :func:`tf_worker` in a fresh process of this Python."""
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks.compare_torch", "--tf-worker", json.dumps(spec)],
        cwd=ROOT, env=dict(os.environ, **WORKER_ENV), capture_output=True, text=True, check=False)
    return last_json_line(completed, "TensorFlow worker")


def torch_command(args, *extra: str) -> list[str]:
    return [args.torch_python, str(TORCH_SCRIPT), "--sizes", *map(size_name, args.sizes), *extra]


def run_torch_worker(args) -> dict:
    """Run ``reference_torch.py`` with the timing options of this comparison."""
    load_start = os.getloadavg()
    completed = subprocess.run(
        torch_command(args, "--repeats", str(args.repeats), "--warmup", str(args.warmup),
                      "--steps", str(args.steps), "--large-repeats", str(args.large_repeats),
                      "--matmul-repeats", str(args.repeats), "--adam", args.adam,
                      "--memory-format", args.memory_format),
        cwd=ROOT, env=dict(os.environ, **WORKER_ENV), capture_output=True, text=True, check=False)
    result = last_json_line(completed, "PyTorch worker")
    result["load_average_start"], result["load_average_end"] = load_start, os.getloadavg()
    return result


def check_torch(torch_python: str) -> str | None:
    """The torch version the given Python imports, or None if it cannot."""
    try:
        completed = subprocess.run([torch_python, "-c", "import torch; print(torch.__version__)"],
                                   capture_output=True, text=True, check=False, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return completed.stdout.strip() if completed.returncode == 0 else None


def torch_parameter_counts(args) -> dict:
    completed = subprocess.run(torch_command(args, "--counts"), cwd=ROOT, capture_output=True,
                               text=True, check=False)
    return last_json_line(completed, "PyTorch parameter count")


def count_differences(tf_counts: dict, torch_counts: dict) -> list[str]:
    """Modules whose counts differ between the two implementations (empty: all equal)."""
    differences = []
    for name in sorted(set(tf_counts) | set(torch_counts)):
        if tf_counts.get(name) != torch_counts.get(name):
            differences.append(f"{name}: TF {tf_counts.get(name)} vs torch {torch_counts.get(name)}")
    return differences


# ---------------------------------------------------------------------- summary
def summarise(rounds: list[dict], sizes) -> dict:
    """Medians over rounds, per-round ratios and FLOP/s of every size."""
    tf_peak = statistics.median(r["tf"]["matmul_peak"]["flops_per_second"] for r in rounds)
    torch_peak = statistics.median(r["torch"]["matmul_peak"]["flops_per_second"] for r in rounds)
    summary = {"tf_matmul_flops_per_second": tf_peak, "torch_matmul_flops_per_second": torch_peak,
               "sizes": {}}
    first_tf = rounds[0]["tf"]["training"]
    for size in map(size_name, sizes):
        tf_steps = [r["tf"]["training"][size]["step_seconds"] for r in rounds]
        torch_steps = [r["torch"]["training"][size]["step_seconds"] for r in rounds]
        ratios = [t / f for t, f in zip(torch_steps, tf_steps)]
        flops = first_tf[size]["flops_per_image"]["lambda0_training_step"] * BATCH_SIZE
        tf_step, torch_step = statistics.median(tf_steps), statistics.median(torch_steps)
        summary["sizes"][size] = {
            "tf_step_seconds": tf_step, "torch_step_seconds": torch_step,
            "tf_step_seconds_rounds": tf_steps, "torch_step_seconds_rounds": torch_steps,
            "torch_over_tf": statistics.median(ratios), "torch_over_tf_rounds": ratios,
            "tf_images_per_second": BATCH_SIZE / tf_step, "torch_images_per_second": BATCH_SIZE / torch_step,
            "flops_per_step": flops,
            "tf_flops_per_second": flops / tf_step, "torch_flops_per_second": flops / torch_step,
            "tf_fraction_of_tf_peak": flops / tf_step / tf_peak,
            "torch_fraction_of_torch_peak": flops / torch_step / torch_peak,
            "torch_fraction_of_tf_peak": flops / torch_step / tf_peak,
        }
    return summary


def print_table(results: dict) -> None:
    summary = results["summary"]
    print()
    print(f"{'size':>8} {'TF step s':>10} {'torch s':>9} {'torch/TF':>9} {'TF GF/s':>8} "
          f"{'%TFpeak':>8} {'torch GF/s':>10} {'%own pk':>8} {'%TFpeak':>8}")
    for size, row in summary["sizes"].items():
        print(f"{size:>8} {row['tf_step_seconds']:10.4f} {row['torch_step_seconds']:9.4f} "
              f"{row['torch_over_tf']:9.2f} {row['tf_flops_per_second'] / 1e9:8.1f} "
              f"{100 * row['tf_fraction_of_tf_peak']:8.1f} {row['torch_flops_per_second'] / 1e9:10.1f} "
              f"{100 * row['torch_fraction_of_torch_peak']:8.1f} {100 * row['torch_fraction_of_tf_peak']:8.1f}")
    print()
    print(f"matmul peak (2048^2 float32, chain of 4): TF {summary['tf_matmul_flops_per_second'] / 1e9:.1f} "
          f"GFLOP/s, torch {summary['torch_matmul_flops_per_second'] / 1e9:.1f} GFLOP/s")
    for size, row in summary["sizes"].items():
        ratios = ", ".join(f"{r:.2f}" for r in row["torch_over_tf_rounds"])
        print(f"{size}: {row['flops_per_step'] / 1e9:.2f} GFLOP/step; torch/TF per round: {ratios}")
    print(f"parameter counts: {results['parameter_counts']['result']}")
    print(f"TF: {results['tf_environment']}")
    print(f"torch: {results['torch_environment']}")
    loads = [f"{r['tf']['load_average_start'][0]:.1f}/{r['torch']['load_average_start'][0]:.1f}"
             for r in results["rounds"]]
    print(f"1-min load average at the start of each round's TF/torch worker: {', '.join(loads)}")
    print(f"\nbenchmark time: {results['benchmark_seconds']:.0f} s")


# ---------------------------------------------------------------------- main
def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.compare_torch",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--torch-python", default=os.environ.get("TORCH_PYTHON"),
                        help="Python of an environment with torch installed (default: $TORCH_PYTHON)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="alternating TF / torch rounds (default 3)")
    parser.add_argument("--sizes", default=f"{size_name(DEFAULT_SIZE)},{size_name(PAPER_SIZE)}",
                        help="comma-separated image sizes HxW (default 32x40,224x288)")
    parser.add_argument("--repeats", type=int, default=5,
                        help="timed repeats at small sizes and of the matmul chain (default 5)")
    parser.add_argument("--large-repeats", type=int, default=2,
                        help="timed steps at sizes of 100x100 or more, after one warm-up step (default 2)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed repeats at small sizes (default 2)")
    parser.add_argument("--steps", type=int, default=5, help="steps per repeat at small sizes (default 5)")
    parser.add_argument("--adam", default="fused", help="PyTorch Adam variant (see reference_torch.py)")
    parser.add_argument("--memory-format", default="channels_last",
                        help="PyTorch memory format (see reference_torch.py)")
    parser.add_argument("--output", type=pathlib.Path, default=DEFAULT_OUTPUT,
                        help="JSON results file (default benchmarks/torch_comparison.json)")
    parser.add_argument("--overwrite", action="store_true", help="overwrite an existing --output file")
    parser.add_argument("--tf-worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.sizes = [parse_size(s) for s in args.sizes.split(",") if s]
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.tf_worker:
        print(json.dumps(tf_worker(json.loads(args.tf_worker))))
        return {}
    torch_version = check_torch(args.torch_python) if args.torch_python else None
    if torch_version is None:
        sys.exit(f"--torch-python: {args.torch_python or '(not given)'} cannot import torch; give the "
                 "Python of an environment with torch installed (pip install torch==2.13.0)")
    started = time.perf_counter()
    results = {"command": " ".join(["python -m benchmarks.compare_torch",
                                    *(argv if argv is not None else sys.argv[1:])]),
               "date": datetime.datetime.now().isoformat(timespec="seconds"),
               "batch_size": BATCH_SIZE, "torch_python": args.torch_python, "rounds": []}
    spec = {"sizes": [list(s) for s in args.sizes], "repeats": args.repeats, "warmup": args.warmup,
            "steps": args.steps, "large_repeats": args.large_repeats, "matmul_repeats": args.repeats}
    for index in range(args.rounds):
        order = ("tf", "torch") if index % 2 == 0 else ("torch", "tf")
        outcome = {"order": list(order)}
        for name in order:
            print(f"round {index + 1}/{args.rounds}: {name}", flush=True)
            if name == "tf":
                outcome["tf"] = run_tf_worker({**spec, "details": index == 0})
            else:
                outcome["torch"] = run_torch_worker(args)
        results["rounds"].append(outcome)

    first = results["rounds"][0]
    torch_counts = torch_parameter_counts(args)
    differences = [f"{size}: {line}" for size in map(size_name, args.sizes)
                   for line in count_differences(first["tf"]["training"][size]["parameter_counts"],
                                                 torch_counts[size])]
    results["parameter_counts"] = {
        "result": "equal for every encoder and head" if not differences else "; ".join(differences),
        "tf": {size: first["tf"]["training"][size]["parameter_counts"] for size in map(size_name, args.sizes)},
        "torch": torch_counts}
    results["tf_environment"] = first["tf"]["environment"]
    results["torch_environment"] = {**first["torch"]["environment"], "adam": first["torch"]["adam"],
                                    "memory_format": first["torch"]["memory_format"],
                                    "l2": first["torch"]["l2"]}
    results["summary"] = summarise(results["rounds"], args.sizes)
    results["benchmark_seconds"] = time.perf_counter() - started
    path = write_results(results, args.output, args.overwrite)
    print_table(results)
    print(f"results written to {path}")
    return results


if __name__ == "__main__":
    main()
