"""Dense classifier / adversary head (paper, Fig. 2)."""

from __future__ import annotations

import keras
from keras import layers

from ..fast.batch_normalization import batch_normalization


@keras.saving.register_keras_serializable(package="disentangle_tf")
class DenseHead(keras.Model):
    """Dense layers ending in class logits: ``[Dense -> BN -> ReLU] * k -> Dense``.

    Used for the classifier of each task and for each adversary; an adversary has the
    architecture of the classifier of the task whose label it predicts. The hidden
    dense layers have no bias (batch normalisation follows them), as in the authors'
    code. The logits layer computes in float32 so that mixed precision stays stable.

    Args:
        input_dim: size of the feature vector the head reads.
        num_classes: number of output logits.
        units: hidden units of each dense layer before the logits (paper: one hidden
            layer for a two-layer head; fetal-US anatomy: two hidden layers).
        l2_weight: L2 penalty on every dense kernel.
        synchronized_batch_norm: batch statistics over the global batch of all
            replicas under ``tf.distribute``.
        **kwargs: passed to ``keras.Model`` (``name``, ``dtype``).

    Returns:
        A functional model mapping features ``(N, input_dim)`` to logits
        ``(N, num_classes)``.

    Example:

    >>> head = DenseHead(64, num_classes=3, units=(32,))
    >>> head.output_shape
    (None, 3)

    Reference: Q. Meng, N. Pawlowski, D. Rueckert, B. Kainz. Representation
        Disentanglement for Multi-task Learning with application to Fetal
        Ultrasound. PIPPI workshop, MICCAI 2019. arXiv:1908.07885.
    """

    def __init__(self, input_dim: int, num_classes: int, units=(256,), l2_weight: float = 1e-5,
                 synchronized_batch_norm: bool = False, **kwargs):
        name = kwargs.pop("name", "head")
        regularizer = keras.regularizers.L2(l2_weight) if l2_weight else None

        # === Layers and functional model ===
        features = keras.Input(shape=(int(input_dim),), name="features")
        x = features
        for index, width in enumerate(units):
            x = layers.Dense(width, use_bias=False, kernel_regularizer=regularizer,
                             name=f"dense{index}")(x)
            x = batch_normalization(synchronized=synchronized_batch_norm, name=f"bn{index}")(x)
            x = layers.ReLU(name=f"relu{index}")(x)
        logits = layers.Dense(num_classes, kernel_regularizer=regularizer, dtype="float32",
                              name="logits")(x)
        super().__init__(inputs=features, outputs=logits, name=name, **kwargs)

        # === Config ===
        self.input_dim = int(input_dim)
        self.num_classes = int(num_classes)
        self.units = tuple(int(u) for u in units)
        self.l2_weight = float(l2_weight)
        self.synchronized_batch_norm = bool(synchronized_batch_norm)

    # ------------------------------------------------------------------ parts
    @property
    def projection(self):
        """The first dense layer (features -> first hidden units), or None without hidden layers."""
        return self.get_layer("dense0") if self.units else None

    def call_after_projection(self, projected, training=False):
        """The head's logits from the first dense layer's output ``projected``.

        ``head(x)`` equals ``head.call_after_projection(x @ head.projection.kernel)``.
        """
        if not self.units:
            raise ValueError(f"{self.name}: a head without hidden layers has no projection")
        x = projected
        for layer in self.layers_after_projection():
            x = layer(x, training=training)
        return x

    def layers_after_projection(self):
        """The layers :meth:`call_after_projection` runs, in order."""
        names = [f"{kind}{index}" for index in range(len(self.units)) for kind in ("dense", "bn", "relu")]
        return [self.get_layer(name) for name in names[1:]] + [self.get_layer("logits")]

    def get_config(self):
        return {
            "name": self.name,
            "input_dim": self.input_dim,
            "num_classes": self.num_classes,
            "units": list(self.units),
            "l2_weight": self.l2_weight,
            "synchronized_batch_norm": self.synchronized_batch_norm,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)

