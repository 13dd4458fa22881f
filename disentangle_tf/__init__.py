"""disentangle_tf: adversarial representation disentanglement for multi-task learning.

A TensorFlow / Keras 3 implementation of Meng et al., "Representation Disentanglement
for Multi-task Learning with application to Fetal Ultrasound" (PIPPI 2019).

Importing the package registers its Keras-serialisable classes (the
:class:`Disentangler`, its encoders and heads, the fused batch normalisation and the
fused optimizers), so that ``keras.saving.load_model("run/model.keras")`` works after
``import disentangle_tf``; this loads TensorFlow. The package's commands
(``python -m disentangle_tf.<command>``) are the exception: they check their input
before TensorFlow loads, and import what they use. Other public names are imported on
first use.
"""

from __future__ import annotations

import importlib
import os
import sys

from .fast.onednn import prefer_onednn
from .lazy import alias_moved_modules, lazy_exports

# oneDNN's CPU kernels, unless the fast paths are off (disentangle_tf.fast): read when
# TensorFlow loads, so this comes before anything imports it.
prefer_onednn()

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

__all__ = sorted(_PUBLIC)

#: Modules that moved into the package's folders, importable by their former names
#: (``disentangle_tf.config`` is :mod:`disentangle_tf.run.config`) for existing scripts.
_MOVED = {
    **{name: f"evaluation.{name}" for name in ("forward", "scores", "plots", "probes")},
    **{name: f"run.{name}" for name in (
        "backup", "callbacks", "config", "config_values", "console", "datasets", "distribution", "methods",
        "outputs", "run_settings", "summaries", "threads", "training", "weight_averaging")},
}
alias_moved_modules(__name__, _MOVED)

_KERAS_SERIALIZABLE = ("models.disentangler", "models.ensemble", "fast.batch_normalization", "fast.optimizers")
"""Modules whose import registers every class of the package Keras can deserialise."""


def _check_keras_backend(backend: str | None) -> None:
    """ImportError, one line, unless Keras runs on TensorFlow (the steps are TensorFlow code)."""
    if backend is not None and backend != "tensorflow":
        raise ImportError(f"disentangle_tf needs Keras's TensorFlow backend; Keras is set to {backend!r}: "
                          "set KERAS_BACKEND=tensorflow")


def _register_keras_serializable() -> None:
    """Import the modules whose classes are registered with Keras (package ``disentangle_tf``)."""
    import keras

    _check_keras_backend(keras.backend.backend())
    for name in _KERAS_SERIALIZABLE:
        importlib.import_module(f".{name}", __name__)



__getattr__, __dir__ = lazy_exports(__name__, _PUBLIC, globals())


# While ``python -m disentangle_tf.<command>`` locates its module, ``sys.argv[0]`` is
# "-m" (Python's documented behaviour): the command checks its input before
# TensorFlow loads, then imports the modules it needs.
_check_keras_backend(os.environ.get("KERAS_BACKEND"))
if getattr(sys, "argv", [])[:1] != ["-m"]:
    _register_keras_serializable()
