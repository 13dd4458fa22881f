"""Batch-norm statistics recomputed with the final weights ("precise BN").

During training each batch-normalization layer keeps an exponential moving average of
its batch statistics, updated once per step with momentum 0.99: the average mixes the
statistics of the last hundred or so steps' *weights*. With a large learning rate the
weights move faster than the average follows, and the model in inference mode
normalises with statistics of weights it no longer has; its validation accuracy can
then sit far below its training accuracy. Recomputing every layer's statistics as the
plain mean over a number of training batches, with the final weights and no gradient
step, removes that lag.

Reference: Wu & Johnson, "Rethinking 'Batch' in BatchNorm", arXiv:2105.07576 (2021),
Sect. 3 (PreciseBN).
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from ..fast.keras_internals import layers_within


def batch_norm_layers(model) -> list:
    """Every batch normalisation layer (``keras.layers.BatchNormalization``, fused or not) of the
    encoders and classifiers of ``model``."""
    return [layer for network in (*model.encoders, *model.classifiers) for layer in layers_within(network)
            if isinstance(layer, keras.layers.BatchNormalization)]


def precise_batch_norm(model, images: np.ndarray, batches: int = 30, batch_size: int = 50, seed: int = 0,
                       on_batch=None) -> int:
    """Set every encoder and classifier batch-norm layer's moving statistics to their mean over batches.

    Runs the encoders and classifiers in training mode (batch statistics, no gradient,
    no weight update) on ``batches`` batches of ``batch_size`` images drawn without
    replacement within a batch; each layer's moving mean and variance become the mean of
    its ``batches`` batch statistics. The forward pass is one ``tf.function`` traced once,
    with every layer's momentum 0 so that its moving statistics hold the last batch's; the
    layers' momentum is restored afterwards, and their moving statistics too if a batch
    fails. The adversaries are left as they are.

    Args:
        model: a :class:`~disentangle_tf.models.Disentangler`.
        images: ``(N, H, W, C)`` float32 training images, as the model reads them.
        batches: number of batches.
        batch_size: images per batch (at most ``N``).
        seed: seed of the batches' draw.
        on_batch: called with ``k`` after batch ``k`` (from 1), to show progress; None: nothing.

    Returns:
        The number of batch-norm layers recomputed.

    Raises:
        ValueError: if ``batches`` < 1 or there are fewer images than ``batch_size``.
    """
    if batches < 1:
        raise ValueError(f"batches must be >= 1; got {batches}")
    if len(images) < batch_size:
        raise ValueError(f"precise batch norm needs at least {batch_size} images; got {len(images)}")
    layers = batch_norm_layers(model)
    momenta = [layer.momentum for layer in layers]
    statistics = [variable for layer in layers for variable in (layer.moving_mean, layer.moving_variance)]
    before = [variable.numpy() for variable in statistics]

    @tf.function(autograph=False)
    def batch_statistics(batch):
        for encoder, classifier in zip(model.encoders, model.classifiers):
            classifier(encoder(batch, training=True), training=True)
        return [tf.identity(variable.value) for variable in statistics]

    rng = np.random.default_rng(seed)
    sums = [np.zeros_like(value) for value in before]
    finished = False
    try:
        for layer in layers:
            layer.momentum = 0.0
        for k in range(1, batches + 1):
            batch = tf.constant(images[rng.choice(len(images), batch_size, replace=False)])
            for total, value in zip(sums, batch_statistics(batch)):
                total += value.numpy()
            if on_batch is not None:
                on_batch(k)
        finished = True
    finally:
        for layer, momentum in zip(layers, momenta):
            layer.momentum = momentum
        for variable, total, old in zip(statistics, sums, before):
            variable.assign(total / batches if finished else old)
    return len(layers)
