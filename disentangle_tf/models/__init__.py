"""Keras models: residual encoders, dense heads and the Disentangler."""

from .dense_head import DenseHead
from .disentangler import MISSING_LABEL, Disentangler, pair_name
from .fused_batch_normalization import FusedBatchNormalization
from .residual_encoder import ResidualEncoder, ZeroPadChannels
from ..task_spec import TaskSpec

__all__ = ["MISSING_LABEL", "DenseHead", "Disentangler", "FusedBatchNormalization", "ResidualEncoder", "TaskSpec", "ZeroPadChannels", "pair_name"]
