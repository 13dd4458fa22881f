"""Residual convolutional encoder (paper, Fig. 2: six residual blocks as in DLTK)."""

from __future__ import annotations

import keras
from keras import layers, ops

from ..fast.batch_normalization import batch_normalization
from .defaults import FEATURE_POOLING


@keras.saving.register_keras_serializable(package="disentangle_tf")
class ZeroPadChannels(layers.Layer):
    """Appends zero channels to a feature map (the identity shortcut of DLTK).

    Args:
        extra_channels: number of zero channels appended on the last axis.
    """

    def __init__(self, extra_channels: int, **kwargs):
        super().__init__(**kwargs)
        self.extra_channels = int(extra_channels)

    def call(self, inputs):
        return ops.pad(inputs, [[0, 0], [0, 0], [0, 0], [0, self.extra_channels]])

    def compute_output_shape(self, input_shape):
        channels = input_shape[-1]
        return (*input_shape[:-1], None if channels is None else channels + self.extra_channels)

    def get_config(self):
        return {**super().get_config(), "extra_channels": self.extra_channels}


def _activation(name: str, layer_name: str) -> layers.Layer:
    if name == "leaky_relu":
        # The authors' code uses a leaky ReLU with slope 0.1.
        return layers.LeakyReLU(negative_slope=0.1, name=layer_name)
    return layers.Activation(name, name=layer_name)


@keras.saving.register_keras_serializable(package="disentangle_tf")
class ResidualEncoder(keras.Model):
    """Encoder of one task: a stem convolution and pre-activation residual blocks.

    Each block is BN -> activation -> strided 3x3 conv -> BN -> activation -> 3x3 conv,
    added to a shortcut that max-pools by the stride and zero-pads the channels (the
    residual unit of DLTK used by the authors). The last feature map becomes the feature
    vector by flattening (authors' code) or by global average pooling.

    Args:
        input_shape: ``(height, width, channels)`` of the images.
        filters: output filters of each residual block (paper: six blocks).
        strides: stride of each residual block.
        stem_filters: filters of the initial 3x3 convolution.
        activation: ``"leaky_relu"`` (slope 0.1) or any Keras activation name.
        feature_pooling: ``"flatten"`` or ``"average"``.
        l2_weight: L2 penalty on every convolution kernel.
        synchronized_batch_norm: batch statistics over the global batch of all
            replicas under ``tf.distribute`` (one device: no effect on the result).
        **kwargs: passed to ``keras.Model`` (``name``, ``dtype``).

    Returns:
        A functional model mapping images ``(N, H, W, C)`` to features ``(N, D)``.

    Example:

    >>> encoder = ResidualEncoder((32, 32, 1), filters=(8, 16), strides=(2, 2))
    >>> encoder.output_shape
    (None, 1024)

    Reference: Q. Meng, N. Pawlowski, D. Rueckert, B. Kainz. Representation
        Disentanglement for Multi-task Learning with application to Fetal
        Ultrasound. PIPPI workshop, MICCAI 2019. arXiv:1908.07885.
    """

    def __init__(
        self,
        input_shape,
        filters=(16, 16, 32, 32, 64, 64),
        strides=(2, 1, 2, 1, 2, 1),
        stem_filters: int = 8,
        activation: str = "leaky_relu",
        feature_pooling: str = "flatten",
        l2_weight: float = 1e-5,
        synchronized_batch_norm: bool = False,
        **kwargs,
    ):
        if len(filters) != len(strides):
            raise ValueError(
                f"filters and strides must have the same length; got {len(filters)} and {len(strides)}"
            )
        if feature_pooling not in FEATURE_POOLING:
            raise ValueError(f"feature_pooling must be one of {', '.join(FEATURE_POOLING)}; got {feature_pooling!r}")
        name = kwargs.pop("name", "encoder")
        regularizer = keras.regularizers.L2(l2_weight) if l2_weight else None

        def conv(units, stride, layer_name):
            return layers.Conv2D(
                units, 3, strides=stride, padding="same", use_bias=False,
                kernel_regularizer=regularizer, name=layer_name,
            )

        # === Layers and functional model ===
        images = keras.Input(shape=tuple(input_shape), name="images")
        x = conv(stem_filters, 1, "stem_conv")(images)
        channels = stem_filters
        for index, (units, stride) in enumerate(zip(filters, strides)):
            prefix = f"block{index}"
            shortcut = x
            x = batch_normalization(synchronized=synchronized_batch_norm, name=f"{prefix}_bn1")(x)
            x = _activation(activation, f"{prefix}_act1")(x)
            x = conv(units, stride, f"{prefix}_conv1")(x)
            x = batch_normalization(synchronized=synchronized_batch_norm, name=f"{prefix}_bn2")(x)
            x = _activation(activation, f"{prefix}_act2")(x)
            x = conv(units, 1, f"{prefix}_conv2")(x)
            if stride > 1:
                shortcut = layers.MaxPooling2D(stride, strides=stride, padding="same",
                                               name=f"{prefix}_pool")(shortcut)
            if units > channels:
                shortcut = ZeroPadChannels(units - channels, name=f"{prefix}_pad")(shortcut)
            elif units < channels:
                shortcut = layers.Conv2D(units, 1, use_bias=False, kernel_regularizer=regularizer,
                                         name=f"{prefix}_projection")(shortcut)
            x = layers.Add(name=f"{prefix}_add")([x, shortcut])
            channels = units
        x = batch_normalization(synchronized=synchronized_batch_norm, name="final_bn")(x)
        x = _activation(activation, "final_act")(x)
        if feature_pooling == "flatten":
            features = layers.Flatten(name="features")(x)
        else:
            features = layers.GlobalAveragePooling2D(name="features")(x)
        super().__init__(inputs=images, outputs=features, name=name, **kwargs)

        # === Config ===
        self.image_shape = tuple(int(d) for d in input_shape)
        self.filters = tuple(int(f) for f in filters)
        self.strides = tuple(int(s) for s in strides)
        self.stem_filters = int(stem_filters)
        self.activation = activation
        self.feature_pooling = feature_pooling
        self.l2_weight = float(l2_weight)
        self.synchronized_batch_norm = bool(synchronized_batch_norm)

    def get_config(self):
        return {
            "name": self.name,
            "input_shape": list(self.image_shape),
            "filters": list(self.filters),
            "strides": list(self.strides),
            "stem_filters": self.stem_filters,
            "activation": self.activation,
            "feature_pooling": self.feature_pooling,
            "l2_weight": self.l2_weight,
            "synchronized_batch_norm": self.synchronized_batch_norm,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)

