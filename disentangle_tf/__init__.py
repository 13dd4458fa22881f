"""disentangle_tf: adversarial representation disentanglement for multi-task learning.

A TensorFlow / Keras 3 implementation of Meng et al., "Representation Disentanglement
for Multi-task Learning with application to Fetal Ultrasound" (PIPPI 2019).

Importing the package loads no TensorFlow and leaves the process's environment
variables and import system as they were: public names are imported on first use. Keras deserialises the package's classes (the :class:`Disentangler`, its
encoders and heads, the fused batch normalisation and the fused optimizers) once they
are registered, which importing the package does when Keras is already imported
(``import keras, disentangle_tf``), and :func:`register_keras_classes` does in any
case; then ``keras.saving.load_model("run/model.keras")`` works. The package's commands
(``python -m disentangle_tf.<command>``) set the environment variables they use when
they start (``docs/performance.rst``, "Environment variables").
"""

from __future__ import annotations

import importlib
import os
import sys

from .lazy import lazy_exports

__version__ = "0.1.0"

_PUBLIC = {
    "DataConfig": "run.config",
    "ModelConfig": "run.config",
    "RunConfig": "run.config",
    "TrainConfig": "run.config",
    "TaskSpec": "task_spec",
    "LabelledImages": "data.labelled_images",
    "make_training_dataset": "data.pipeline",
    "make_evaluation_dataset": "data.pipeline",
    "make_synthetic_split": "data.synthetic",
    "make_synthetic_splits": "data.synthetic",
    "Disentangler": "models.disentangler",
    "DenseHead": "models.dense_head",
    "ResidualEncoder": "models.residual_encoder",
    "FusedBatchNormalization": "fast.batch_normalization",
    "FusedAdam": "fast.optimizers",
    "FusedSGD": "fast.optimizers",
    "export_saved_model": "export",
    "load_exported_model": "export",
}

__all__ = sorted([*_PUBLIC, "register_keras_classes"])

_KERAS_SERIALIZABLE = ("models.disentangler", "models.ensemble", "fast.batch_normalization", "fast.optimizers")
"""Modules whose import registers every class of the package Keras can deserialise."""


def _check_keras_backend(backend: str | None) -> None:
    """ImportError, one line, unless Keras runs on TensorFlow (the steps are TensorFlow code)."""
    if backend is not None and backend != "tensorflow":
        raise ImportError(f"disentangle_tf needs Keras's TensorFlow backend; Keras is set to {backend!r}: "
                          "set KERAS_BACKEND=tensorflow")


def register_keras_classes() -> None:
    """Register the package's Keras-serialisable classes with Keras (this imports TensorFlow).

    Afterwards ``keras.saving.load_model`` reads a ``model.keras`` the package wrote (a
    :class:`Disentangler` or an ensemble, with its encoders, heads, layers and
    optimizers). Calling it again does nothing more. ``import disentangle_tf`` calls it
    when Keras is already imported.

    Raises:
        ImportError: if Keras runs on a backend other than TensorFlow.
    """
    import keras

    _check_keras_backend(keras.backend.backend())
    for name in _KERAS_SERIALIZABLE:
        importlib.import_module(f".{name}", __name__)


__getattr__, __dir__ = lazy_exports(__name__, _PUBLIC, globals())

_check_keras_backend(os.environ.get("KERAS_BACKEND"))
if "keras" in sys.modules:  # TensorFlow has loaded already: registering costs nothing more
    register_keras_classes()
