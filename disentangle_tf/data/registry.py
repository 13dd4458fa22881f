"""The container every data set loader returns, importable from here as well.

Which data set a run loads (its ``--dataset``) is chosen by :mod:`disentangle_tf.run.datasets`.
"""

from .dataset_splits import DatasetSplits

__all__ = ["DatasetSplits"]
