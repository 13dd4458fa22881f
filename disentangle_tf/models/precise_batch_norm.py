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
    replacement within a batch; after batch ``k`` each layer's moving mean and variance
    are the average of the ``k`` batch statistics so far (momentum ``(k - 1) / k``).
    The layers' momentum is restored afterwards. The adversaries are left as they are.

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
    rng = np.random.default_rng(seed)
    try:
        for k in range(1, batches + 1):
            for layer in layers:
                layer.momentum = (k - 1) / k
            batch = tf.constant(images[rng.choice(len(images), batch_size, replace=False)])
            for encoder, classifier in zip(model.encoders, model.classifiers):
                classifier(encoder(batch, training=True), training=True)
            if on_batch is not None:
                on_batch(k)
    finally:
        for layer, momentum in zip(layers, momenta):
            layer.momentum = momentum
    return len(layers)
