"""disentangle_tf: adversarial representation disentanglement for multi-task learning.

A TensorFlow / Keras 3 implementation of Meng et al., "Representation Disentanglement
for Multi-task Learning with application to Fetal Ultrasound" (PIPPI 2019).

Public names are imported on first use, so that the command-line tools can check
their input before TensorFlow loads.
"""

from __future__ import annotations

import importlib
import os

# TensorFlow turns on its oneDNN CPU kernels by default only on CPUs with AVX-512 and
# newer instructions. On an AVX2 CPU, turning them off made the training step 1.73x
# slower and the float32 matmul about 1.4x slower (docs/performance.rst). The switch is read when
# TensorFlow loads, so it only takes effect if TensorFlow is not imported yet; a value
# the user set (TF_ENABLE_ONEDNN_OPTS=0 turns the kernels off) is kept.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

__version__ = "0.1.0"

_PUBLIC = {
    "DataConfig": "config",
    "ModelConfig": "config",
    "RunConfig": "config",
    "TrainConfig": "config",
    "TaskSpec": "task_spec",
    "LabelledImages": "data.labelled_images",
    "make_training_dataset": "data.pipeline",
    "make_evaluation_dataset": "data.pipeline",
    "make_synthetic_split": "data.synthetic",
    "make_synthetic_splits": "data.synthetic",
    "Disentangler": "models.disentangler",
    "DenseHead": "models.dense_head",
    "ResidualEncoder": "models.residual_encoder",
    "FusedBatchNormalization": "models.fused_batch_normalization",
    "FusedAdam": "optimizers.fused_adam",
    "FusedSGD": "optimizers.fused_sgd",
    "export_saved_model": "export",
    "load_exported_model": "export",
}

__all__ = sorted(_PUBLIC)


def __getattr__(name: str):
    if name in _PUBLIC:
        value = getattr(importlib.import_module(f".{_PUBLIC[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_PUBLIC])
