"""The benchmarks' shared harness: the timed model and batch, timers, memory readings,
the matmul peak and the results file (used by ``run``, ``profile`` and ``compare_torch``)."""

from __future__ import annotations

import datetime
import itertools
import json
import os
import pathlib
import platform
import resource
import statistics
import subprocess
import time

HERE = pathlib.Path(__file__).resolve().parent


ROOT = HERE.parent


DEFAULT_OUTPUT = HERE / "results.json"


BATCH_SIZE = 50


ADVERSARY_STEPS = 5


ADVERSARIAL_WEIGHT = 0.01


PAPER_SIZE = (224, 288)


DEFAULT_SIZE = (32, 40)


CONFIGURATIONS = {
    # name: (adversarial_weight, adversary_steps, adversary_batches)
    "lambda0": (0.0, 0, "same"),
    "same": (ADVERSARIAL_WEIGHT, ADVERSARY_STEPS, "same"),
    "fresh": (ADVERSARIAL_WEIGHT, ADVERSARY_STEPS, "fresh"),
}


STEP_TIME_ONLY = {
    # name: (configuration it varies, compile arguments): timed with the others, no memory row
    "same_plain": ("same", {"factored_adversary_updates": False}),
    # The recommended method's step: no adversarial term, adversaries trained as probes,
    # the class-conditional HSIC penalty on every residual block's 2 x 2 grid cells.
    "recommended": ("same", {"adversarial_weight": 0.0, "independence_weight": 10.0,
                             "independence_layers": "block_maps"}),
    # The same on the blocks' global averages only (the recommended step of before).
    "blocks": ("same", {"adversarial_weight": 0.0, "independence_weight": 10.0,
                        "independence_layers": "blocks"}),
}


# ---------------------------------------------------------------------- helpers
def parse_size(text: str) -> tuple[int, int]:
    height, width = text.lower().split("x")
    return int(height), int(width)


def size_name(size) -> str:
    return f"{size[0]}x{size[1]}"


def peak_rss_mib() -> float:
    """Peak resident set size of this process in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def allocator_mib():
    """(current, peak) MiB of TensorFlow's CPU allocator, or None if it keeps no statistics.

    With oneDNN on, TensorFlow allocates CPU tensors through an allocator that counts
    them; with oneDNN off ``get_memory_info`` raises ``ValueError``.
    """
    import tensorflow as tf

    try:
        info = tf.config.experimental.get_memory_info("CPU:0")
    except ValueError:
        return None
    return info["current"] / 2**20, info["peak"] / 2**20


def reset_allocator_peak() -> None:
    import tensorflow as tf

    tf.config.experimental.reset_memory_stats("CPU:0")


def timed(fn, repeats: int, warmup: int) -> list[float]:
    """Seconds of each of ``repeats`` calls of ``fn`` after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def repeats_for(size, args) -> tuple[int, int, int]:
    """(repeats, warmup, steps per repeat) of a training measurement at ``size``."""
    if is_large(size):
        return args.large_repeats, 1, 1
    return args.repeats, args.warmup, args.steps


def is_large(size) -> bool:
    """Sizes whose training step takes many seconds on a CPU: one step per repeat."""
    return size[0] * size[1] >= 100 * 100


def synthetic_tasks():
    from disentangle_tf.models import TaskSpec

    return [TaskSpec("background", 2), TaskSpec("shape", 2)]


def base_configuration(configuration: str) -> str:
    """The key of :data:`CONFIGURATIONS` that ``configuration`` is or varies."""
    return STEP_TIME_ONLY.get(configuration, (configuration,))[0]


def build_model(size, configuration: str, jit_compile: bool = False, task_count: int | None = None):
    """The paper's architecture (flattened features) for the synthetic tasks, compiled for ``configuration``.

    ``configuration`` is a key of :data:`CONFIGURATIONS` or of :data:`STEP_TIME_ONLY`;
    ``task_count`` keeps the first tasks only (1: the single-task baseline). The
    features are flattened as in the authors' code (the package's default pools them),
    so that the step matches the PyTorch reference and the earlier measurements.
    """
    from disentangle_tf.models import Disentangler

    keras_seed()
    model = Disentangler(tasks=synthetic_tasks()[:task_count], input_shape=(*size, 1), feature_pooling="flatten")
    extra = STEP_TIME_ONLY.get(configuration, (configuration, {}))[1]
    weight, steps, batches = CONFIGURATIONS[base_configuration(configuration)]
    model.compile(**{"adversarial_weight": weight, "adversary_steps": steps, "adversary_batches": batches,
                     "jit_compile": jit_compile, **extra})
    return model


def keras_seed():
    import keras

    keras.utils.set_random_seed(0)


def training_batch(size, adversary_steps: int):
    """One training element of :func:`make_training_dataset` (with fresh batches if k > 0)."""
    from disentangle_tf.data import make_synthetic_split
    from disentangle_tf.data.pipeline import make_training_dataset

    data = make_synthetic_split("val", image_size=size)  # 300 images: enough for one element
    dataset = make_training_dataset(data, batch_size=BATCH_SIZE, adversary_steps=adversary_steps,
                                    flip=True, seed=0, device=None)
    return next(iter(dataset))


# ---------------------------------------------------------------------- workers
def interleaved_times(runners: dict, repeats: int, warmup: int) -> dict:
    """Seconds of every call of each runner, repeats interleaved across runners.

    Interleaving gives every runner the same share of the machine's drifts in load and
    clock, so that ratios between runners are taken within each round.
    """
    for run in runners.values():
        for _ in range(warmup):
            run()
    times = {name: [] for name in runners}
    for _ in range(repeats):
        for name, run in runners.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    return times


def step_runner(model, batch, steps: int):
    """A callable running ``steps`` calls of the model's compiled train function on ``batch``."""
    model.make_train_function()
    train_function = model.train_function
    batches = itertools.repeat(batch)

    def run():
        for _ in range(steps):
            outputs = train_function(batches)
        float(outputs["encoder_loss"])  # wait for the step to finish

    return run


def model_flops_per_image(size) -> dict:
    """Analytic FLOPs per image of the convolution and dense layers (a multiply-add = 2).

    A training step of ``lambda0`` runs every encoder, classifier and adversary forward
    (the adversaries for their metrics: with weight 0 they are left out of Eq. 1) and
    back-propagates through the encoders and classifiers; backward is counted as twice the forward (input and
    weight gradients), except for the first convolution of each encoder, whose input
    gradient (towards the images) is not computed.
    """
    import keras

    model = build_model(size, "lambda0")

    def layer_flops(layer) -> int:
        if isinstance(layer, keras.layers.Conv2D):
            _, height, width, out_channels = layer.output.shape
            kh, kw = layer.kernel_size
            return 2 * height * width * kh * kw * layer.input.shape[-1] * out_channels
        if isinstance(layer, keras.layers.Dense):
            return 2 * layer.input.shape[-1] * layer.units
        return 0

    def forward(submodel) -> int:
        return sum(layer_flops(layer) for layer in submodel.layers)

    def first_convolution(encoder) -> int:
        return next(layer_flops(layer) for layer in encoder.layers if isinstance(layer, keras.layers.Conv2D))

    encoders = sum(forward(m) for m in model.encoders)
    image_gradients = sum(first_convolution(m) for m in model.encoders)
    classifiers = sum(forward(m) for m in model.classifiers)
    adversaries = sum(forward(m) for m in model.adversaries)
    return {
        "encoders_forward": encoders,
        "classifiers_forward": classifiers,
        "adversaries_forward": adversaries,
        "lambda0_training_step": 3 * (encoders + classifiers) - image_gradients + adversaries,
    }


MATMUL_SIZE = 2048


MATMUL_CHAIN = 4


def matmul_runner(chains: int = 1, n: int = MATMUL_SIZE, chain: int = MATMUL_CHAIN):
    """(callable, FLOPs per call): ``chain`` float32 n x n matmuls in a ``tf.function``.

    With ``chains`` > 1 the matmuls form that many independent chains, which
    TensorFlow's inter-op threads run at once: with one thread per op (the training
    processes' pools), two chains keep both cores busy as one chain does with
    TensorFlow's pools.
    """
    import tensorflow as tf

    a = tf.random.normal((n, n))
    b = tf.random.normal((n, n)) / (n ** 0.5)

    @tf.function
    def chained(a, b):
        outputs = [a + float(i) for i in range(chains)]
        for _ in range(chain // chains):
            outputs = [tf.linalg.matmul(x, b) for x in outputs]
        return tf.add_n([tf.reduce_sum(x[:1, :1]) for x in outputs])

    return (lambda: chained(a, b).numpy()), (chain // chains) * chains * 2 * n ** 3


def bench_matmul_peak(repeats: int, warmup: int) -> dict:
    run, flops = matmul_runner()
    times = timed(run, repeats, warmup)
    return {"flops_per_second": flops / statistics.median(times), "matrix": MATMUL_SIZE, "chain": MATMUL_CHAIN}


def output_path(requested: pathlib.Path, overwrite: bool) -> pathlib.Path:
    if not requested.exists() or overwrite:
        return requested
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    return requested.with_name(f"{requested.stem}-{stamp}{requested.suffix}")


def write_results(results: dict, requested: pathlib.Path, overwrite: bool) -> pathlib.Path:
    """Write ``results`` as JSON to ``requested``, or to a timestamped name beside it if
    that file exists and ``overwrite`` is false; return the path written."""
    path = output_path(requested, overwrite)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n")
    return path


def machine() -> dict:
    info = {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()}
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if line.startswith("Model name:"):
                info["cpu_model"] = line.split(":", 1)[1].strip()
    except OSError:
        pass
    import keras
    import tensorflow as tf

    info.update({"tensorflow": tf.__version__, "keras": keras.__version__,
                 "gpus": len(tf.config.list_physical_devices("GPU")),
                 "TF_ENABLE_ONEDNN_OPTS": os.environ.get("TF_ENABLE_ONEDNN_OPTS")})
    return info
