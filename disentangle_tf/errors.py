"""Exceptions and warnings the package raises for its users (no TensorFlow import here)."""


class TrainingDiverged(RuntimeError):
    """A loss became NaN or infinite; training stopped."""


class DataWarning(UserWarning):
    """A data set is usable but probably not what was meant (one-line message).

    The command line prints it as one ``Warning: ...`` line.
    """
