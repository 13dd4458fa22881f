"""Data sets and tf.data input pipelines.

The public names are imported on first use, so that the light modules of this package
(argument checks, defaults) can be imported without TensorFlow.
"""

from ..lazy import lazy_exports

_PUBLIC = {
    "LabelledImages": "labelled_images",
    "make_evaluation_dataset": "pipeline",
    "make_synthetic_split": "synthetic",
    "make_synthetic_splits": "synthetic",
    "make_training_dataset": "pipeline",
    "random_flip_batch": "pipeline",
}

__all__ = sorted(_PUBLIC)

__getattr__, __dir__ = lazy_exports(__name__, _PUBLIC, globals())
