"""Data sets and tf.data input pipelines."""

from .labelled_images import LabelledImages
from .pipeline import make_evaluation_dataset, make_training_dataset, random_flip_batch

__all__ = ["LabelledImages", "make_evaluation_dataset", "make_training_dataset", "random_flip_batch"]
