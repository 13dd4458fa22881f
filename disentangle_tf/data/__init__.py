"""Data sets and tf.data input pipelines."""

from .labelled_images import LabelledImages
from .pipeline import make_evaluation_dataset, make_training_dataset, random_flip_batch
from .synthetic import make_synthetic_split, make_synthetic_splits

__all__ = [
    "LabelledImages",
    "make_evaluation_dataset",
    "make_synthetic_split",
    "make_synthetic_splits",
    "make_training_dataset",
    "random_flip_batch",
]
