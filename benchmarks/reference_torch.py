"""A plain PyTorch implementation of the ``lambda0`` training step, for speed comparison.

This script times, with PyTorch, the training step that ``python -m benchmarks.run``
times for the package's ``lambda0`` configuration (adversarial weight 0, no adversary
updates), on the same network: for each of the two synthetic tasks ("background" and
"shape", two classes each) a residual encoder with the default architecture of
:class:`disentangle_tf.models.ResidualEncoder` and a classifier head
(:class:`disentangle_tf.models.DenseHead`), plus one adversary head per ordered pair of
tasks. One step is ``zero_grad``, forward, backward and an Adam update of the encoders
and classifiers; the adversaries run forward only (in training mode, without
gradient), because in ``lambda0`` their logits enter the loss with weight 0. The loss
is the sum of the two classifiers' mean cross-entropies plus the L2 penalty
``1e-5 * sum(w ** 2)`` over every convolution and dense kernel, as in the package's
Eq. 1 (``--no-l2`` leaves the penalty out).

The defaults are fused Adam (one kernel per update; on a two-core CPU the three
implementations of ``--adam`` were within noise of each other) and channels-last
tensors (steps 10-20% faster than contiguous ones, ``--memory-format``).

It also measures PyTorch's float32 matmul peak as ``benchmarks.harness.bench_matmul_peak``
does (a chain of four 2048 x 2048 products), and prints one JSON line.

PyTorch is not a dependency of the package. Install it in an environment of its own;
on a machine without a GPU the CPU build is enough::

    python3 -m venv /tmp/torchvenv
    /tmp/torchvenv/bin/pip install torch==2.13.0 numpy
    /tmp/torchvenv/bin/python benchmarks/reference_torch.py --sizes 32x40 224x288

``python -m benchmarks.compare_torch`` runs this script and the package's step in
alternation and reports their ratio. The script imports only torch, numpy and the
standard library.

Differences from the package's network that do not change the work done: a stride-2
"same" convolution pads one pixel on every side here, while TensorFlow pads only the
bottom and right of an even-sized input (the output shapes are equal), and the Adam
epsilon is added to the bias-corrected second moment as PyTorch does.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

# Run as a script, this file's directory comes first on sys.path, and its profile.py
# (the package's profiler) would shadow the standard library module torch imports.
if sys.path and os.path.abspath(sys.path[0] or ".") == os.path.dirname(os.path.abspath(__file__)):
    sys.path.pop(0)

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402
from torch.nn import functional as F  # noqa: E402

BATCH_SIZE = 50
NUM_CLASSES = (2, 2)  # the synthetic tasks "background" and "shape"
ENCODER_FILTERS = (16, 16, 32, 32, 64, 64)
ENCODER_STRIDES = (2, 1, 2, 1, 2, 1)
STEM_FILTERS = 8
HEAD_UNITS = 256
L2_WEIGHT = 1e-5
# Keras's BatchNormalization defaults: epsilon 1e-3, moving average momentum 0.99
# (PyTorch's momentum is the weight of the new value).
BN_EPSILON = 1e-3
BN_MOMENTUM = 0.01
LEAKY_SLOPE = 0.1
# The package's default optimizer: Adam(1e-3, beta_1=0.0, beta_2=0.9, epsilon=1e-5).
ADAM = {"lr": 1e-3, "betas": (0.0, 0.9), "eps": 1e-5}
ADAM_VARIANTS = ("fused", "foreach", "single")
MEMORY_FORMATS = ("channels_last", "contiguous")


# ---------------------------------------------------------------------- network
def conv3x3(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    """3x3 convolution without bias, output size ``ceil(input / stride)``."""
    return nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)


def batch_norm_2d(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPSILON, momentum=BN_MOMENTUM)


class ResidualBlock(nn.Module):
    """Pre-activation residual unit: BN -> LeakyReLU -> strided conv -> BN -> LeakyReLU -> conv.

    The shortcut max-pools by the stride and appends zero channels up to the block's
    filters (or, if the block has fewer filters than its input, projects with a 1x1
    convolution; the default architecture never does).
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int):
        super().__init__()
        self.bn1 = batch_norm_2d(in_channels)
        self.conv1 = conv3x3(in_channels, out_channels, stride)
        self.bn2 = batch_norm_2d(out_channels)
        self.conv2 = conv3x3(out_channels, out_channels)
        self.stride = stride
        self.extra_channels = max(out_channels - in_channels, 0)
        self.projection = (nn.Conv2d(in_channels, out_channels, 1, bias=False)
                           if out_channels < in_channels else None)

    def forward(self, x):
        shortcut = x
        x = self.conv1(F.leaky_relu(self.bn1(x), LEAKY_SLOPE))
        x = self.conv2(F.leaky_relu(self.bn2(x), LEAKY_SLOPE))
        if self.stride > 1:
            shortcut = F.max_pool2d(shortcut, self.stride, self.stride, ceil_mode=True)
        if self.extra_channels:
            shortcut = pad_channels(shortcut, self.extra_channels)
        elif self.projection is not None:
            shortcut = self.projection(shortcut)
        return x + shortcut


def pad_channels(x, extra: int):
    """Append ``extra`` zero channels, keeping the memory format of ``x``."""
    zeros = x.new_zeros((x.shape[0], extra, *x.shape[2:]))
    if x.is_contiguous(memory_format=torch.channels_last):
        zeros = zeros.contiguous(memory_format=torch.channels_last)
    return torch.cat([x, zeros], dim=1)


class ResidualEncoder(nn.Module):
    """Stem 3x3 conv, six residual blocks, final BN + LeakyReLU, flatten.

    Flattening follows Keras's (height, width, channel) order, which is a free view of
    a channels-last feature map.
    """

    def __init__(self, in_channels: int = 1, filters=ENCODER_FILTERS, strides=ENCODER_STRIDES,
                 stem_filters: int = STEM_FILTERS):
        super().__init__()
        self.stem = conv3x3(in_channels, stem_filters)
        blocks, channels = [], stem_filters
        for units, stride in zip(filters, strides):
            blocks.append(ResidualBlock(channels, units, stride))
            channels = units
        self.blocks = nn.Sequential(*blocks)
        self.final_bn = batch_norm_2d(channels)

    def forward(self, images):
        x = self.blocks(self.stem(images))
        x = F.leaky_relu(self.final_bn(x), LEAKY_SLOPE)
        return x.permute(0, 2, 3, 1).flatten(1)

    def feature_dim(self, height: int, width: int) -> int:
        for stride in ENCODER_STRIDES:
            height, width = -(-height // stride), -(-width // stride)
        return height * width * ENCODER_FILTERS[-1]


class DenseHead(nn.Sequential):
    """Dense (no bias) -> BN -> ReLU -> Dense logits: a classifier or an adversary."""

    def __init__(self, input_dim: int, num_classes: int, units: int = HEAD_UNITS):
        super().__init__(
            nn.Linear(input_dim, units, bias=False),
            nn.BatchNorm1d(units, eps=BN_EPSILON, momentum=BN_MOMENTUM),
            nn.ReLU(),
            nn.Linear(units, num_classes),
        )


class Lambda0Network(nn.Module):
    """Encoder and classifier per task; an adversary for each ordered pair of tasks.

    The adversary reading task ``i``'s features predicts task ``j``'s label and has the
    classifier architecture of task ``j``.
    """

    def __init__(self, height: int, width: int, num_classes=NUM_CLASSES):
        super().__init__()
        self.encoders = nn.ModuleList(ResidualEncoder() for _ in num_classes)
        dims = [encoder.feature_dim(height, width) for encoder in self.encoders]
        self.classifiers = nn.ModuleList(DenseHead(d, c) for d, c in zip(dims, num_classes))
        self.pairs = [(i, j) for i in range(len(num_classes)) for j in range(len(num_classes)) if i != j]
        self.adversaries = nn.ModuleList(DenseHead(dims[i], num_classes[j]) for i, j in self.pairs)

    def trained_parameters(self):
        """Parameters of the encoders and classifiers (those Adam moves in ``lambda0``)."""
        return [p for module in (*self.encoders, *self.classifiers) for p in module.parameters()]

    def kernels(self):
        """Convolution and dense kernels of the encoders and classifiers (the L2 term)."""
        return [m.weight for module in (*self.encoders, *self.classifiers) for m in module.modules()
                if isinstance(m, (nn.Conv2d, nn.Linear))]

    def loss(self, images, labels, l2: bool = True):
        """Sum of the task cross-entropies (+ L2); adversaries forward without gradient."""
        features = [encoder(images) for encoder in self.encoders]
        loss = sum(F.cross_entropy(classifier(f), y)
                   for classifier, f, y in zip(self.classifiers, features, labels))
        with torch.no_grad():
            # Weight 0 in lambda0: computed (and their batch statistics updated), not trained.
            for adversary, (i, _) in zip(self.adversaries, self.pairs):
                adversary(features[i])
        if l2:
            loss = loss + L2_WEIGHT * sum(w.square().sum() for w in self.kernels())
        return loss


# ---------------------------------------------------------------------- parameter counts
def parameter_counts(network: Lambda0Network) -> dict:
    """Trainable and non-trainable (batch-norm moving statistics) values of every module.

    Named as the Keras model's submodels are, so that the counts can be compared with
    ``count_params()`` of ``build_model(size, "lambda0")``'s encoders and heads.
    """
    task_names = ("background", "shape")
    modules = {}
    for name, encoder, classifier in zip(task_names, network.encoders, network.classifiers):
        modules[f"{name}_encoder"] = encoder
        modules[f"{name}_classifier"] = classifier
    for (i, j), adversary in zip(network.pairs, network.adversaries):
        modules[f"adversary_{task_names[i]}_to_{task_names[j]}"] = adversary
    counts = {}
    for name, module in modules.items():
        buffers = [b for key, b in module.named_buffers() if not key.endswith("num_batches_tracked")]
        counts[name] = {"trainable": sum(p.numel() for p in module.parameters()),
                        "non_trainable": sum(b.numel() for b in buffers)}
    return counts


# ---------------------------------------------------------------------- timing
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


def is_large(size) -> bool:
    """Sizes whose training step takes seconds on a CPU: one step per repeat."""
    return size[0] * size[1] >= 100 * 100


def make_optimizer(parameters, variant: str) -> torch.optim.Adam:
    """Adam with the package's hyper-parameters, in one of PyTorch's implementations."""
    flags = {"fused": {"fused": True}, "foreach": {"foreach": True}, "single": {"foreach": False}}
    return torch.optim.Adam(parameters, **ADAM, **flags[variant])


def training_batch(size, memory_format: str, seed: int = 0):
    """Random standard-normal greyscale images and random labels of both tasks."""
    rng = np.random.default_rng(seed)
    images = torch.from_numpy(rng.standard_normal((BATCH_SIZE, 1, *size), dtype=np.float32))
    if memory_format == "channels_last":
        images = images.contiguous(memory_format=torch.channels_last)
    labels = [torch.from_numpy(rng.integers(0, c, BATCH_SIZE)) for c in NUM_CLASSES]
    return images, labels


def step_runner(size, steps: int, adam: str, memory_format: str, l2: bool = True):
    """A callable running ``steps`` training steps of a fresh network on one batch."""
    torch.manual_seed(0)
    network = Lambda0Network(*size)
    if memory_format == "channels_last":
        network = network.to(memory_format=torch.channels_last)
    network.train()
    optimizer = make_optimizer(network.trained_parameters(), adam)
    images, labels = training_batch(size, memory_format)

    def run():
        for _ in range(steps):
            optimizer.zero_grad(set_to_none=True)
            loss = network.loss(images, labels, l2=l2)
            loss.backward()
            optimizer.step()
        float(loss.detach())

    return run


def bench_matmul_peak(repeats: int, warmup: int, n: int = 2048, chain: int = 4) -> dict:
    """Float32 FLOP/s of a chain of ``chain`` ``n x n`` products (as benchmarks.run)."""
    generator = torch.Generator().manual_seed(0)
    a = torch.randn((n, n), generator=generator)
    b = torch.randn((n, n), generator=generator) / n ** 0.5

    def chained():
        x = a
        for _ in range(chain):
            x = x @ b
        return float(x[:1, :1].sum())

    with torch.inference_mode():
        times = timed(chained, repeats, warmup)
    return {"flops_per_second": chain * 2 * n ** 3 / statistics.median(times), "matrix": n, "chain": chain}


def bench_size(size, args) -> dict:
    """Median step time of one image size (one step per repeat at large sizes)."""
    if is_large(size):
        repeats, warmup, steps = args.large_repeats, 1, 1
    else:
        repeats, warmup, steps = args.repeats, args.warmup, args.steps
    run = step_runner(size, steps, args.adam, args.memory_format, l2=not args.no_l2)
    times = [t / steps for t in timed(run, repeats, warmup)]
    step = statistics.median(times)
    return {"step_seconds": step, "step_seconds_all": times, "images_per_second": BATCH_SIZE / step,
            "repeats": repeats, "warmup": warmup, "steps": steps}


def compare_variants(size, args) -> dict:
    """Median step seconds of every Adam variant and memory format (a quick survey)."""
    results = {}
    for memory_format in MEMORY_FORMATS:
        for adam in ADAM_VARIANTS:
            variant = argparse.Namespace(**{**vars(args), "adam": adam, "memory_format": memory_format})
            results[f"{memory_format}/{adam}"] = bench_size(size, variant)["step_seconds"]
    return results


# ---------------------------------------------------------------------- main
def environment() -> dict:
    return {
        "torch": torch.__version__, "python": platform.python_version(),
        "intra_op_threads": torch.get_num_threads(), "inter_op_threads": torch.get_num_interop_threads(),
        "mkldnn_available": torch.backends.mkldnn.is_available(),
        "mkldnn_enabled": bool(torch.backends.mkldnn.enabled),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cpus": os.cpu_count(),
    }


def parse_size(text: str) -> tuple[int, int]:
    height, width = text.lower().split("x")
    return int(height), int(width)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", nargs="+", default=["32x40", "224x288"],
                        help="image sizes HxW (default 32x40 224x288)")
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats at small sizes (default 5)")
    parser.add_argument("--large-repeats", type=int, default=2,
                        help="timed repeats at sizes of 100x100 or more, one step each after one "
                             "warm-up step (default 2)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed repeats at small sizes (default 2)")
    parser.add_argument("--steps", type=int, default=5, help="steps per repeat at small sizes (default 5)")
    parser.add_argument("--adam", choices=ADAM_VARIANTS, default="fused",
                        help="PyTorch Adam implementation (default fused)")
    parser.add_argument("--memory-format", choices=MEMORY_FORMATS, default="channels_last",
                        help="memory format of images, weights and feature maps (default channels_last)")
    parser.add_argument("--no-l2", action="store_true", help="leave the L2 penalty out of the loss")
    parser.add_argument("--matmul-repeats", type=int, default=5, help="timed matmul chains (default 5)")
    parser.add_argument("--variants", action="store_true",
                        help="also time every Adam variant and memory format at each size")
    parser.add_argument("--counts", action="store_true",
                        help="print the parameter counts of every module at each size and exit")
    parser.add_argument("--output", help="also write the JSON result to this file")
    args = parser.parse_args(argv)
    args.sizes = [parse_size(s) for text in args.sizes for s in text.split(",") if s]
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.counts:
        counts = {f"{h}x{w}": parameter_counts(Lambda0Network(h, w)) for h, w in args.sizes}
        print(json.dumps(counts))
        return counts
    result = {"environment": environment(), "adam": args.adam, "memory_format": args.memory_format,
              "l2": not args.no_l2, "batch_size": BATCH_SIZE, "training": {}}
    for size in args.sizes:
        name = f"{size[0]}x{size[1]}"
        result["training"][name] = bench_size(size, args)
        if args.variants:
            result["training"][name]["variants"] = compare_variants(size, args)
    result["matmul_peak"] = bench_matmul_peak(args.matmul_repeats, 2)
    for row in result["training"].values():
        row["matmul_flops_per_second"] = result["matmul_peak"]["flops_per_second"]
    line = json.dumps(result)
    print(line)
    if args.output:
        with open(args.output, "w") as handle:
            handle.write(line + "\n")
    return result


if __name__ == "__main__":
    main()
