"""disentangle_tf: adversarial representation disentanglement for multi-task learning.

A TensorFlow / Keras 3 implementation of Meng et al., "Representation Disentanglement
for Multi-task Learning with application to Fetal Ultrasound" (PIPPI 2019).
"""

__version__ = "0.1.0"

from .config import DataConfig, ModelConfig, RunConfig, TrainConfig  # noqa: E402
from .data import LabelledImages, make_evaluation_dataset, make_training_dataset  # noqa: E402
from .data.synthetic import make_synthetic_split, make_synthetic_splits  # noqa: E402
from .models import DenseHead, Disentangler, ResidualEncoder, TaskSpec  # noqa: E402

__all__ = [
    "DataConfig",
    "DenseHead",
    "Disentangler",
    "LabelledImages",
    "ModelConfig",
    "ResidualEncoder",
    "RunConfig",
    "TaskSpec",
    "TrainConfig",
    "make_evaluation_dataset",
    "make_synthetic_split",
    "make_synthetic_splits",
    "make_training_dataset",
]
