"""Keras models: residual encoders, dense heads, the Disentangler and its ensembles.

The public names are imported on first use, so that the model's defaults
(:mod:`disentangle_tf.models.defaults`) can be read without TensorFlow.
"""

from ..lazy import lazy_package

lazy_package(globals(), {
    "dense_head": ["DenseHead"],
    "disentangler": ["MISSING_LABEL", "Disentangler", "TaskSpec", "pair_name"],
    "ensemble": ["DisentanglerEnsemble"],
    "disentangle_tf.fast.batch_normalization": ["FusedBatchNormalization"],
    "last_layer": ["retrain_last_layer"],
    "residual_encoder": ["ResidualEncoder", "ZeroPadChannels"],
})
