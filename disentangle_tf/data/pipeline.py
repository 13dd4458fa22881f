"""tf.data input pipelines: shuffle, batch, random left-right flips, prefetch.

Training elements are ``(images, labels)`` with ``labels`` a dict of per-task integer
labels. With ``adversary_steps = k > 0`` each element also carries the fresh batches of
the adversary steps (the authors' code draws a new batch for every adversary step)::

    ((images, labels), (adversary_images, adversary_labels))

``adversary_images`` has shape ``(batch, k, H, W, C)``: row ``i`` holds the ``i``-th
image of each of the ``k`` adversary batches. Laid out this way, splitting an element
across replicas (``tf.distribute``) gives each replica its share of *every* adversary
batch, so a replicated step sees the same adversary batches as a single device.

Shuffling is a pure function of ``(seed, epoch)``: epoch ``e`` of a run has the same
order whether or not the run was interrupted and resumed before it. Images are
gathered by index batches (one vectorised gather per batch) and flipped per batch; on
a GPU the batch is copied to the device first and flipped there.

Where the images are gathered from: an in-memory array of at most
:data:`GRAPH_CONSTANT_LIMIT` bytes is a constant of the tf.data graph (the fastest); a
larger one, or a :class:`~disentangle_tf.data.streaming.LazyImages` (a data set larger
than memory), is gathered on the host in NumPy (``tf.numpy_function``), the lazy one
decoding each batch's images as it goes. The index batches, flips and labels are the
same either way, so a streamed run sees exactly the batches of an in-memory one.
"""

from __future__ import annotations

import contextlib
import math

import numpy as np
import tensorflow as tf

from ..errors import DataError
from .arguments import MIXUP_PARTNERS, SAMPLING
from .images import ImageReadError
from .labelled_images import LabelledImages
from .mixing import mix_batch
from .streaming import LazyImages, read_rows

AUTOTUNE = tf.data.AUTOTUNE

GRAPH_CONSTANT_LIMIT = 1 << 30
"""Largest in-memory image array, in bytes (1 GiB), embedded in the tf.data graph as a
constant; a larger one is gathered in NumPy instead (a graph cannot hold a constant
of 2 GB or more)."""

# Offsets that give each random stream of a run (main order, adversary order, flips)
# its own seed.
_MAIN, _ADVERSARY, _FLIP = 0, 1, 2


def default_device() -> str | None:
    """The first GPU if there is one, else None (stay on the host)."""
    gpus = tf.config.list_logical_devices("GPU")
    return gpus[0].name if gpus else None


def random_flip_batch(images: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """Flip each image of a batch left-right with probability 1/2.

    Args:
        images: ``(N, H, W, C)`` tensor, or ``(N, k, H, W, C)`` (each of the ``N * k``
            images flipped independently).
        seed: shape ``(2,)`` integer seed of the stateless draw.

    Returns:
        The batch with a random subset of images mirrored along the width axis.
    """
    leading = tf.shape(images)[:-3]
    flip = tf.random.stateless_uniform(leading, seed=seed) < 0.5
    flip = tf.reshape(flip, tf.concat([leading, [1, 1, 1]], axis=0))
    return tf.where(flip, tf.reverse(images, axis=[-2]), images)


def steps_per_epoch(data: LabelledImages, batch_size: int) -> int:
    """Main steps in one epoch: full batches only."""
    return len(data) // batch_size


def _permutation(count: int, seed: tf.Tensor) -> tf.Tensor:
    """A random permutation of ``range(count)``, a pure function of ``seed`` (shape 2)."""
    return tf.argsort(tf.random.stateless_uniform([count], seed=seed))


def _indices(count: int, needed: int, seed: tf.Tensor, shuffle: bool) -> tf.Tensor:
    """``needed`` indices: concatenated permutations (or ranges) of ``range(count)``."""
    repeats = math.ceil(needed / count)
    if not shuffle:
        return tf.tile(tf.range(count), [repeats])[:needed]
    parts = [_permutation(count, tf.stack([seed[0], seed[1] * 7919 + r])) for r in range(repeats)]
    return tf.concat(parts, axis=0)[:needed]


def label_groups(labels: dict) -> np.ndarray:
    """Per image, the index of its combination of task labels (its group).

    A missing label (:data:`~disentangle_tf.data.labelled_images.MISSING_LABEL`, -1)
    is a value of its own: images of other planes with a shadow label but no plane
    label form the groups "no plane, with shadow" and "no plane, without shadow", drawn
    as often as every labelled combination.

    Args:
        labels: per task, ``(N,)`` integer labels (-1: missing).

    Returns:
        ``(N,)`` int64 group indices in ``0 .. G - 1``, ``G`` the number of label
        combinations present.
    """
    stacked = np.stack([np.asarray(v).astype("int64") for v in labels.values()], axis=1)
    return np.unique(stacked, axis=0, return_inverse=True)[1].reshape(-1).astype("int64")


def _group_balanced_indices(groups: np.ndarray, needed: int, seed: tf.Tensor) -> tf.Tensor:
    """``needed`` indices drawn with replacement: a uniform group, then a uniform member."""
    order = np.argsort(groups, kind="stable")
    sizes = np.bincount(groups)
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    group = tf.random.stateless_uniform([needed], seed=seed, maxval=len(sizes), dtype=tf.int64)
    member = tf.random.stateless_uniform([needed], seed=tf.stack([seed[0], seed[1] * 7919 + 1]))
    position = tf.gather(tf.constant(offsets, tf.int64), group) + tf.cast(
        member * tf.cast(tf.gather(tf.constant(sizes, tf.int64), group), tf.float32), tf.int64)
    return tf.gather(tf.constant(order, tf.int64), position)


def _as_graph_constant(images) -> np.ndarray | None:
    """``images`` as a float32 array if they are in memory and at most
    :data:`GRAPH_CONSTANT_LIMIT` bytes (a graph constant), else None."""
    if isinstance(images, LazyImages):
        return None
    images = np.asarray(images).astype("float32", copy=False)
    return images if images.nbytes <= GRAPH_CONSTANT_LIMIT else None


def _image_gatherer(images):
    """A function ``index -> images[index]`` (float32 tensors) for the pipelines.

    ``images`` is an in-memory array or a :class:`LazyImages`. Up to
    :data:`GRAPH_CONSTANT_LIMIT` bytes, an array is a graph constant gathered by
    ``tf.gather``; beyond, or lazy, each index batch is read in NumPy
    (:func:`~disentangle_tf.data.streaming.read_rows`) by ``tf.numpy_function``.
    """
    constant = _as_graph_constant(images)
    if constant is not None:
        constant = tf.constant(constant)
        return lambda index: tf.gather(constant, index)
    if not isinstance(images, LazyImages):
        images = np.asarray(images).astype("float32", copy=False)
    image_shape = tuple(int(d) for d in images.shape[1:])

    def read(index):
        try:
            return read_rows(images, index)
        except ImageReadError as error:
            _READ_FAILURES.append(error)  # TensorFlow re-raises it as an OpError
            raise

    def gather(index):
        batch = tf.numpy_function(read, [index], tf.float32, stateful=False)
        batch.set_shape(index.shape.concatenate(image_shape))
        return batch

    return gather


#: The image-read failures inside the pipelines' ``tf.numpy_function`` since the last
#: :func:`streamed_image_errors` began.
_READ_FAILURES: list = []


@contextlib.contextmanager
def streamed_image_errors():
    """Report a streamed image that cannot be read any more as one :class:`DataError`.

    Streamed images are decoded once when the data are loaded, then again as each batch
    is made; a file changed or removed in between fails inside a ``tf.data`` pipeline,
    where TensorFlow would report it as an ``OpError`` with a traceback. Within this
    context such a failure, or an :class:`~disentangle_tf.data.images.ImageReadError`
    raised outside a pipeline, becomes a ``DataError`` naming the file.

    Raises:
        DataError: ``"<path>: <reason> (read while training; ...)"``.
    """
    del _READ_FAILURES[:]
    try:
        yield
    except (ImageReadError, tf.errors.OpError) as error:
        failure = error if isinstance(error, ImageReadError) else (_READ_FAILURES or [None])[-1]
        if failure is None:
            raise
        raise DataError(f"{failure} (read while training; the file could be read when the data were loaded: "
                        "was it changed or removed since?)") from None
    finally:
        del _READ_FAILURES[:]


def make_training_dataset(
    data: LabelledImages,
    batch_size: int = 50,
    adversary_steps: int = 0,
    flip: bool = True,
    shuffle: bool = True,
    seed: int | None = 0,
    device: str | None = "auto",
    epochs: int | None = None,
    initial_epoch: int = 0,
    sampling: str = "uniform",
    augmentation=None,
    mixup: float = 0.0,
    mixup_partners: str = "any",
) -> tf.data.Dataset:
    """The training pipeline of a :class:`~disentangle_tf.models.Disentangler`.

    Args:
        data: training images and per-task labels (-1 where a label is missing; the
            model leaves such an image out of that task's loss). Images may be a
            :class:`~disentangle_tf.data.streaming.LazyImages`: each batch's images
            are then decoded as the batch is made (the same batches as in memory).
        batch_size: images per main step (paper: 50).
        adversary_steps: if > 0, attach to each main batch ``adversary_steps`` fresh
            batches drawn independently of the main order.
        flip: random left-right flips (paper: yes).
        shuffle: shuffle every epoch.
        seed: seed of shuffling and flips; None draws one at random.
        device: where flips run and batches are prefetched to: ``"auto"`` picks the
            first GPU if there is one; ``None`` keeps everything on the host; any
            device name (``"/gpu:0"``, ``"/cpu:0"``) copies batches there.
        epochs: None: one pass over the dataset is one epoch (``fit`` re-iterates
            it, each time in a new order). An integer: one stream holding epochs
            ``initial_epoch .. epochs - 1``, each in the order ``(seed, epoch)`` fixes;
            pass ``steps_per_epoch=steps_per_epoch(data, batch_size)`` and the same
            ``initial_epoch`` to ``fit``. This is what makes a resumed run see the same
            data as an uninterrupted one.
        initial_epoch: first epoch of the stream (with ``epochs``).
        sampling: ``"uniform"``: every image once per epoch (the paper).
            ``"group_balanced"``: every main batch draws, with replacement, a
            uniformly chosen combination of task labels present in ``data`` (a
            group, e.g. rectangle-on-white) and then one of its images, so rare
            combinations are as frequent as common ones (group-balanced sampling,
            Sagawa et al., "Distributionally robust neural networks", ICLR 2020;
            Idrissi et al., "Simple data balancing achieves competitive
            worst-group-accuracy", CLeaR 2022). A missing label (-1) counts as a
            value of its own in the combination (:func:`label_groups`). An epoch
            keeps ``len(data) // batch_size`` steps. Adversary batches stay uniform.
        augmentation: a callable applied, after the flips and on ``device``, to every
            batch of images (main and adversary batches), called as
            ``augmentation(images, training=True)`` on ``(batch, H, W, C)``: typically
            Keras preprocessing layers such as ``keras.layers.RandomRotation`` or a
            ``keras.Sequential`` of them. It must keep the shape and every task's
            label (check that it does). None (the default) applies none beyond the
            flips. Keras's random layers draw from their own seed generator, so
            ``--deterministic`` runs do not fix their draws.
        mixup: if > 0, the ``alpha`` of mixup on every main batch, after the flips and
            the augmentation (:func:`~disentangle_tf.data.mixing.mix_batch`: the batch
            becomes ``(images, labels, weights)`` of twice its size, the mixed images
            with their own and their partners' labels); 0 (the default): none.
            Adversary batches are not mixed.
        mixup_partners: how mixup draws partners, one of
            :data:`~disentangle_tf.data.arguments.MIXUP_PARTNERS`.

    Returns:
        A ``tf.data.Dataset`` of ``(images, labels)`` (``(images, labels, weights)``
        with ``mixup``) or, with adversary steps, ``((images, labels),
        (adversary_images, adversary_labels))``; the last partial batch of an epoch
        is dropped so every step sees a full batch.

    Example:

    >>> from disentangle_tf.data import make_synthetic_split
    >>> train = make_synthetic_split("train", image_size=(32, 40))
    >>> dataset = make_training_dataset(train, batch_size=50, adversary_steps=5)
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1; got {batch_size}")
    if len(data) < batch_size:
        raise ValueError(f"training split has {len(data)} images, fewer than one batch of {batch_size}")
    if adversary_steps < 0:
        raise ValueError(f"adversary_steps must be >= 0; got {adversary_steps}")
    if sampling not in SAMPLING:
        raise ValueError(f"sampling must be one of {', '.join(SAMPLING)}; got {sampling!r}")
    if not (mixup >= 0 and math.isfinite(mixup)):
        raise ValueError(f"mixup must be a finite number >= 0; got {mixup!r}")
    if mixup_partners not in MIXUP_PARTNERS:
        raise ValueError(f"mixup_partners must be one of {', '.join(MIXUP_PARTNERS)}; got {mixup_partners!r}")
    groups = label_groups(data.labels) if sampling == "group_balanced" else None
    if device == "auto":
        device = default_device()
    if seed is None:
        seed = int(np.random.default_rng().integers(2**31))
    count, steps = len(data), steps_per_epoch(data, batch_size)
    gather_images = _image_gatherer(data.images)
    labels = {task: tf.constant(values.astype("int64")) for task, values in data.labels.items()}

    def one_epoch(epoch):
        epoch = tf.cast(epoch, tf.int64)
        main_seed = tf.stack([tf.constant(seed * 3 + _MAIN, tf.int64), epoch])
        if groups is None:
            main = _indices(count, steps * batch_size, main_seed, shuffle)
        else:
            main = _group_balanced_indices(groups, steps * batch_size, main_seed)
        parts = [tf.reshape(main, [steps, batch_size])]
        if adversary_steps:
            adversary_seed = tf.stack([tf.constant(seed * 3 + _ADVERSARY, tf.int64), epoch])
            adversary = _indices(count, steps * batch_size * adversary_steps, adversary_seed, True)
            parts.append(tf.reshape(adversary, [steps, batch_size, adversary_steps]))
        step_seeds = tf.stack(
            [tf.fill([steps], tf.constant(seed * 3 + _FLIP, tf.int64)), epoch * steps + tf.range(steps, dtype=tf.int64)],
            axis=1,
        )
        return tf.data.Dataset.from_tensor_slices((tuple(parts), step_seeds))

    def gather(parts, step_seed):
        batches = tuple(
            (gather_images(index), {task: tf.gather(values, index) for task, values in labels.items()})
            for index in parts
        )
        return batches, step_seed

    if epochs is None:
        # One epoch per iteration, each with a new epoch key drawn from the seeded stream.
        epoch_keys = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).take(1)
        epoch_keys = epoch_keys.map(lambda key: key % (2**31))
    else:
        epoch_keys = tf.data.Dataset.range(initial_epoch, epochs)
    epoch_count = 1 if epochs is None else max(epochs - initial_epoch, 0)
    dataset = epoch_keys.flat_map(one_epoch)
    dataset = dataset.apply(tf.data.experimental.assert_cardinality(steps * epoch_count))
    dataset = dataset.map(gather, num_parallel_calls=AUTOTUNE)
    if device is not None:
        dataset = dataset.apply(tf.data.experimental.copy_to_device(device))

    def finish(batches, step_seed):
        if flip:
            batches = tuple(
                (random_flip_batch(x, tf.stack([step_seed[0], step_seed[1] * 2 + k])), y)
                for k, (x, y) in enumerate(batches)
            )
        if augmentation is not None:
            batches = tuple((_augmented(augmentation, x), y) for x, y in batches)
        if mixup > 0:  # its own stream: the other seeds' first parts are never negative
            mix_seed = tf.stack([-step_seed[0] - 1, step_seed[1]])
            batches = (mix_batch(*batches[0], mix_seed, mixup, mixup_partners), *batches[1:])
        return batches if len(batches) > 1 else batches[0]

    if device is not None:
        with tf.device(device):
            dataset = dataset.map(finish)
    else:
        dataset = dataset.map(finish, num_parallel_calls=AUTOTUNE)
    return dataset.prefetch(AUTOTUNE)


def _augmented(augmentation, images: tf.Tensor) -> tf.Tensor:
    """``augmentation`` on a ``(batch, H, W, C)`` batch, or on the images of a
    ``(batch, steps, H, W, C)`` adversary batch, keeping the shape."""
    shape = tf.shape(images)
    flat = tf.reshape(images, tf.concat([[-1], shape[-3:]], axis=0))
    flat.set_shape([None, *images.shape[-3:]])
    return tf.reshape(tf.cast(augmentation(flat, training=True), images.dtype), shape)


def make_evaluation_dataset(data: LabelledImages, batch_size: int = 50) -> tf.data.Dataset:
    """``(images, labels)`` batches in order, for ``evaluate`` and ``predict``.

    Args:
        data: the images and per-task labels; the images may be in memory or a
            :class:`~disentangle_tf.data.streaming.LazyImages` (decoded batch by batch).
        batch_size: images per batch (the last batch may be smaller).

    Returns:
        A ``tf.data.Dataset`` of ``(images, labels)``: float32 ``(b, H, W, C)`` and, per
        task, int64 ``(b,)``.
    """
    labels = {t: np.asarray(v).astype("int64") for t, v in data.labels.items()}
    constant = _as_graph_constant(data.images)
    if constant is not None:
        dataset = tf.data.Dataset.from_tensor_slices((constant, labels))
        return dataset.batch(batch_size).prefetch(AUTOTUNE)
    gather_images = _image_gatherer(data.images)
    labels = {task: tf.constant(values) for task, values in labels.items()}
    dataset = tf.data.Dataset.range(len(data)).batch(batch_size)
    dataset = dataset.map(
        lambda index: (gather_images(index), {task: tf.gather(values, index) for task, values in labels.items()}),
        num_parallel_calls=AUTOTUNE,
    )
    return dataset.prefetch(AUTOTUNE)
