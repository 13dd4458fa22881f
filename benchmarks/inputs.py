"""Benchmarks of the input pipelines, the exported SavedModel and synthetic data generation
(timed by ``python -m benchmarks.run``)."""

from __future__ import annotations

import pathlib
import statistics

from .harness import (BATCH_SIZE, PAPER_SIZE, build_model, is_large, size_name, synthetic_tasks, timed)


# ---------------------------------------------------------------------- in-process benchmarks
def bench_pipeline_arrays(size, repeats: int, warmup: int, adversary_steps: int) -> dict:
    """Batches of :func:`make_training_dataset` drawn on the host (flips included)."""
    from disentangle_tf.data import make_synthetic_split
    from disentangle_tf.data.pipeline import make_training_dataset

    data = make_synthetic_split("train", image_size=size)
    dataset = make_training_dataset(data, batch_size=BATCH_SIZE, adversary_steps=adversary_steps,
                                    flip=True, seed=0, device=None).repeat()
    iterator = iter(dataset)
    batches = 8 if is_large(size) else 24

    def run():
        for _ in range(batches):
            next(iterator)

    times = timed(run, repeats, warmup)
    return {"images_per_second": batches * BATCH_SIZE / statistics.median(times),
            "adversary_steps": adversary_steps}


def write_pngs(directory: pathlib.Path, count: int, size, source: str = "synthetic") -> list[str]:
    """``count`` greyscale PNGs at ``size`` of the synthetic shapes or of simulated ultrasound.

    The synthetic shapes are flat areas and compress to a few hundred bytes; the
    simulated ultrasound images carry speckle and compress to about 27 kB at 224x288,
    as real scans do, and take longer to decode.
    """
    import numpy as np
    import tensorflow as tf

    from disentangle_tf.data import make_synthetic_split
    from disentangle_tf.data.ultrasound_sim import make_us_sim_split

    if source == "synthetic":
        images = make_synthetic_split("train", image_size=size).images[:count]
    else:
        images = make_us_sim_split("train", image_size=size, scale=0.5).images[:count]
    low, high = images.min(axis=(1, 2, 3), keepdims=True), images.max(axis=(1, 2, 3), keepdims=True)
    pixels = ((images - low) / np.maximum(high - low, 1e-6) * 255).astype("uint8")
    paths = []
    for index, image in enumerate(pixels):
        path = directory / f"image{index:04d}.png"
        tf.io.write_file(str(path), tf.io.encode_png(image))
        paths.append(str(path))
    return paths


def bench_hdf5(directory: pathlib.Path, size, repeats: int, warmup: int) -> dict:
    """Reading a data set converted once to HDF5 (``python -m disentangle_tf.convert``).

    The file holds the synthetic training split at ``size`` as that command writes it
    (decoded, resized, z-scored); it was just written, so it is read from the page cache.
    """
    from disentangle_tf.data import make_synthetic_split
    from disentangle_tf.data.hdf5 import read_hdf5, write_hdf5
    from disentangle_tf.data.dataset_splits import DatasetSplits

    data = make_synthetic_split("train", image_size=size)
    path = write_hdf5(directory / f"train-{size_name(size)}.h5",
                      DatasetSplits(tasks=synthetic_tasks(), train=data, validation=data, evaluation={"val": data}))
    times = timed(lambda: read_hdf5(path), repeats, warmup)
    return {"images_per_second": len(data.images) / statistics.median(times), "images": len(data.images)}


def bench_pipeline_png(paths, size, repeats: int, warmup: int) -> dict:
    """PNG files read, decoded, resized and z-scored by :func:`read_images`.

    This is how a manifest's images are loaded (once, before training).
    """
    from disentangle_tf.data.images import read_images

    times = timed(lambda: read_images(paths, size), repeats, warmup)
    return {"images_per_second": len(paths) / statistics.median(times), "files": len(paths)}


def bench_export(size, directory: pathlib.Path, repeats: int, warmup: int) -> dict:
    import numpy as np

    from disentangle_tf.export import export_saved_model, load_exported_model

    model = build_model(size, "lambda0")
    path = export_saved_model(model, directory / f"saved_model_{size_name(size)}")
    exported = load_exported_model(path)
    images = np.random.default_rng(0).standard_normal((BATCH_SIZE, *size, 1)).astype("float32")
    batch_times = timed(lambda: exported(images), repeats, warmup)
    single = images[:1]
    single_times = timed(lambda: exported(single), max(repeats, 20), max(warmup, 3))
    return {
        "batch_images_per_second": BATCH_SIZE / statistics.median(batch_times),
        "single_image_latency_ms": 1000 * statistics.median(single_times),
    }


def bench_synthetic(repeats: int) -> dict:
    from disentangle_tf.data import make_synthetic_splits

    count = 0

    def run():
        nonlocal count
        splits = make_synthetic_splits(PAPER_SIZE, splits=("train", "val", "test"))
        count = sum(len(s) for s in splits.values())

    times = timed(run, repeats, 0)
    return {"seconds": statistics.median(times), "images": count, "image_size": list(PAPER_SIZE)}
