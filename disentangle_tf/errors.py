"""Exceptions the package raises for its users (no TensorFlow import here)."""


class TrainingDiverged(RuntimeError):
    """A loss became NaN or infinite; training stopped."""
