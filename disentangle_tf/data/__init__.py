"""Data sets and tf.data input pipelines.

The public names are imported on first use, so that the light modules of this package
(argument checks, defaults) can be imported without TensorFlow.
"""

from ..lazy import lazy_package

lazy_package(globals(), {
    "labelled_images": ["LabelledImages"],
    "pipeline": ["make_evaluation_dataset", "make_training_dataset", "random_flip_batch"],
    "streaming": ["LazyImages", "default_memory_budget"],
    "synthetic": ["make_synthetic_split", "make_synthetic_splits"],
})
