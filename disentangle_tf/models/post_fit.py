"""The steps after the last epoch, as Keras callbacks: batch-norm statistics, then the last layers.

A model compiled with a method that asks for them (``compile(method="recommended")``)
adds them itself to ``fit`` from arrays (:func:`post_fit_callbacks`); they can also be
given to any ``fit`` of a :class:`~disentangle_tf.models.Disentangler`. Each runs in
``on_train_end``, after every other callback's (so after ``EarlyStopping`` has restored
its weights) when it comes last in the list, as ``fit`` puts them.
"""

from __future__ import annotations

import keras
import numpy as np

from .last_layer import LAST_LAYER_BALANCE, LAST_LAYER_C, retrain_last_layer
from .precise_batch_norm import precise_batch_norm


class PreciseBatchNormalization(keras.callbacks.Callback):
    """At the end of training, recompute every encoder and classifier batch-norm layer's statistics.

    Calls :func:`~disentangle_tf.models.precise_batch_norm.precise_batch_norm` on the
    model being fitted: each layer's moving mean and variance become the mean of its
    batch statistics over ``batches`` batches of the training images, with the final
    weights (Wu & Johnson, "Rethinking 'Batch' in BatchNorm", 2021).

    Args:
        images: ``(N, H, W, C)`` float32 training images, as the model reads them (an
            array or a :class:`~disentangle_tf.data.streaming.LazyImages`).
        batches: number of batches (>= 1; the recommended method: 30).
        batch_size: images per batch (1 to ``N``).
        seed: seed of the batches' draw.

    Raises:
        ValueError: if ``batches`` < 1, or ``batch_size`` is below 1 or above ``N``.
    """

    def __init__(self, images, batches: int = 30, batch_size: int = 50, seed: int = 0):
        super().__init__()
        if int(batches) < 1:
            raise ValueError(f"batches must be >= 1; got {batches}")
        if not 1 <= int(batch_size) <= len(images):
            raise ValueError(f"batch_size must be in [1, {len(images)}] (the number of images); got {batch_size}")
        self.images, self.batches, self.batch_size, self.seed = images, int(batches), int(batch_size), int(seed)
        self.layers = None

    def on_train_end(self, logs=None):
        self.layers = precise_batch_norm(self.model, self.images, batches=self.batches, batch_size=self.batch_size,
                                         seed=self.seed)


class LastLayerRetraining(keras.callbacks.Callback):
    """At the end of training, refit every classifier's last dense layer on the frozen features.

    Calls :func:`~disentangle_tf.models.last_layer.retrain_last_layer` on the model being
    fitted: a class-then-group balanced logistic regression on the inputs of each
    classifier's last layer (Kirichenko, Izmailov & Wilson, ICLR 2023). After training,
    ``accuracy`` holds its per-task training accuracy (None for a task left as it was).

    Args:
        images: ``(N, H, W, C)`` float32 training images, as the model reads them.
        labels: per task, ``(N,)`` integer labels (-1: missing).
        batch_size: images per forward pass.
        c: inverse L2 strength (> 0).
        balance: example weighting, one of
            :data:`~disentangle_tf.models.last_layer.LAST_LAYER_BALANCE`.

    Raises:
        ValueError: for labels whose length is not ``N``, ``batch_size`` < 1, ``c`` <= 0 or
            an unknown ``balance``.
    """

    def __init__(self, images, labels: dict, batch_size: int = 50, c: float = LAST_LAYER_C,
                 balance: str = "class_group"):
        super().__init__()
        wrong = {task: len(values) for task, values in labels.items() if len(values) != len(images)}
        if wrong:
            raise ValueError(f"labels: expected {len(images)} labels per task (one per image); got {wrong}")
        if int(batch_size) < 1:
            raise ValueError(f"batch_size must be >= 1; got {batch_size}")
        if not c > 0:
            raise ValueError(f"c must be > 0; got {c!r}")
        if balance not in LAST_LAYER_BALANCE:
            raise ValueError(f"balance must be one of {', '.join(LAST_LAYER_BALANCE)}; got {balance!r}")
        self.images, self.labels = images, {task: np.asarray(values) for task, values in labels.items()}
        self.batch_size, self.c, self.balance = int(batch_size), float(c), balance
        self.accuracy = None

    def on_train_end(self, logs=None):
        self.accuracy = retrain_last_layer(self.model, self.images, self.labels, batch_size=self.batch_size,
                                           c=self.c, balance=self.balance)


def post_fit_callbacks(model, images, labels: dict, batch_size: int, seed: int = 0) -> list:
    """The callbacks of the steps after training that ``model``'s method asks for, in order.

    Args:
        model: a compiled :class:`~disentangle_tf.models.Disentangler`; its
            ``precise_batch_norm_batches`` and ``last_layer_retraining`` (set by
            ``compile(method=...)``) say which steps.
        images: ``(N, H, W, C)`` float32 training images.
        labels: per task, ``(N,)`` integer labels.
        batch_size: images per batch of both steps (at most ``N`` for the batch-norm
            statistics, as a run uses).
        seed: seed of the batch-norm batches' draw.

    Returns:
        ``[PreciseBatchNormalization]`` and / or ``[LastLayerRetraining]``, in that order
        (a run's); empty when the method asks for neither.
    """
    callbacks = []
    if model.precise_batch_norm_batches:
        callbacks.append(PreciseBatchNormalization(images, model.precise_batch_norm_batches,
                                                   min(batch_size, len(images)), seed))
    if model.last_layer_retraining:
        callbacks.append(LastLayerRetraining(images, labels, batch_size))
    return callbacks
