"""tf.data input pipelines: shuffle, batch, random left-right flips, prefetch.

Training elements are ``(images, labels)`` with ``labels`` a dict of per-task integer
labels; with ``adversary_steps > 0`` each element also carries the fresh batches of the
adversary steps: ``((images, labels), (adversary_images, adversary_labels))``, the
adversary part holding ``adversary_steps * batch_size`` images drawn from an independent
shuffled stream (the authors' code draws a new batch for every adversary step).

Flips are applied to whole batches (one vectorised op), after batching, so that on a GPU
the batch is copied to the device first and flipped there.
"""

from __future__ import annotations

import tensorflow as tf

from .labelled_images import LabelledImages

AUTOTUNE = tf.data.AUTOTUNE


def default_device() -> str | None:
    """The first GPU if there is one, else None (stay on the host)."""
    gpus = tf.config.list_logical_devices("GPU")
    return gpus[0].name if gpus else None


def random_flip_batch(images: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """Flip each image of a batch left-right with probability 1/2.

    Args:
        images: ``(N, H, W, C)`` tensor.
        seed: shape ``(2,)`` integer seed of the stateless draw.

    Returns:
        The batch with a random subset of images mirrored along the width axis.
    """
    flip = tf.random.stateless_uniform([tf.shape(images)[0]], seed=seed) < 0.5
    return tf.where(flip[:, None, None, None], tf.reverse(images, axis=[2]), images)


def _tensor_slices(data: LabelledImages) -> tf.data.Dataset:
    return tf.data.Dataset.from_tensor_slices(
        (data.images.astype("float32", copy=False), {t: v.astype("int64") for t, v in data.labels.items()})
    )


def _batched(
    data: LabelledImages, batch_size: int, shuffle: bool, seed: int | None, repeat: bool
) -> tf.data.Dataset:
    dataset = _tensor_slices(data)
    if repeat:
        dataset = dataset.repeat()
    if shuffle:
        dataset = dataset.shuffle(len(data), seed=seed, reshuffle_each_iteration=True)
    return dataset.batch(batch_size, drop_remainder=True)


def _flipped(dataset: tf.data.Dataset, seed: int | None, device: str | None) -> tf.data.Dataset:
    """Random flips of every batch, on ``device`` when given (after copying there)."""
    seeds = tf.data.Dataset.random(seed=seed).batch(2, drop_remainder=True)
    dataset = tf.data.Dataset.zip((dataset, seeds))
    if device is not None:
        dataset = dataset.apply(tf.data.experimental.copy_to_device(device))
        with tf.device(device):
            return dataset.map(lambda batch, s: (random_flip_batch(batch[0], s), batch[1]))
    return dataset.map(lambda batch, s: (random_flip_batch(batch[0], s), batch[1]),
                       num_parallel_calls=AUTOTUNE)


def make_training_dataset(
    data: LabelledImages,
    batch_size: int = 50,
    adversary_steps: int = 0,
    flip: bool = True,
    shuffle: bool = True,
    seed: int | None = 0,
    device: str | None = "auto",
) -> tf.data.Dataset:
    """The training pipeline of a :class:`~disentangle_tf.models.Disentangler`.

    One pass over the dataset is one epoch of main steps (``len(data) // batch_size``
    batches; the last partial batch is dropped so every step sees a full batch).

    Args:
        data: training images and per-task labels.
        batch_size: images per main step (paper: 50).
        adversary_steps: if > 0, attach to each main batch ``adversary_steps`` fresh
            batches from an independent shuffled stream.
        flip: random left-right flips (paper: yes).
        shuffle: reshuffle every epoch.
        seed: seed of shuffling and flips (None: not reproducible).
        device: where flips run and batches are prefetched to: ``"auto"`` picks the
            first GPU if there is one; ``None`` keeps everything on the host; any
            device name (``"/gpu:0"``, ``"/cpu:0"``) copies batches there.

    Returns:
        A ``tf.data.Dataset`` of ``(images, labels)`` or, with adversary steps,
        ``((images, labels), (adversary_images, adversary_labels))``.

    Example:

    >>> from disentangle_tf.data import make_synthetic_split
    >>> train = make_synthetic_split("train", image_size=(32, 40))
    >>> dataset = make_training_dataset(train, batch_size=50, adversary_steps=5)
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1; got {batch_size}")
    if len(data) < batch_size:
        raise ValueError(
            f"training split has {len(data)} images, fewer than one batch of {batch_size}"
        )
    if device == "auto":
        device = default_device()
    main = _batched(data, batch_size, shuffle, seed, repeat=False)
    if flip:
        main = _flipped(main, seed, device)
    if adversary_steps:
        adversary_seed = None if seed is None else seed + 1
        adversary = _batched(data, batch_size * adversary_steps, True, adversary_seed, repeat=True)
        if flip:
            adversary = _flipped(adversary, None if seed is None else seed + 2, device)
        main = tf.data.Dataset.zip((main, adversary))
    if device is not None and not flip:
        main = main.apply(tf.data.experimental.copy_to_device(device))
    return main.prefetch(AUTOTUNE)


def make_evaluation_dataset(data: LabelledImages, batch_size: int = 50) -> tf.data.Dataset:
    """``(images, labels)`` batches in order, for ``evaluate`` and ``predict``."""
    return _tensor_slices(data).batch(batch_size).prefetch(AUTOTUNE)
