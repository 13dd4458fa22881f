"""Keras models: residual encoders, dense heads and the Disentangler.

The public names are imported on first use, so that the model's defaults
(:mod:`disentangle_tf.models.defaults`) can be read without TensorFlow.
"""

from ..lazy import lazy_exports

_PUBLIC = {
    "MISSING_LABEL": "disentangler",
    "DenseHead": "dense_head",
    "Disentangler": "disentangler",
    "FusedBatchNormalization": "disentangle_tf.fast.batch_normalization",
    "ResidualEncoder": "residual_encoder",
    "ZeroPadChannels": "residual_encoder",
    "TaskSpec": "disentangler",
    "pair_name": "disentangler",
}

__all__ = sorted(_PUBLIC)

__getattr__, __dir__ = lazy_exports(__name__, _PUBLIC, globals())
