"""Scoring a trained model: forward passes, per-class scores, figures and leakage probes.

The public names are imported on first use (they load TensorFlow, scikit-learn or
matplotlib).
"""

from ..lazy import lazy_package

lazy_package(globals(), {
    "evaluate": ["evaluate_split", "evaluate_splits", "write_evaluation"],
    "forward": ["predict_outputs"],
    "probes": ["leakage_probes"],
    "scores": ["classification_scores"],
})
