"""Exceptions the package raises for its users (no TensorFlow import here)."""


class ConfigError(ValueError):
    """A configuration value, option or file is not what was expected (one-line message).

    The base of the package's errors about its input (:class:`DataError`,
    :class:`BackupError`, ``data.manifest.ManifestError``); the command line prints
    it as one ``Error: ...`` line with exit code 2.
    """


class UserError(Exception):
    """A mistake in the user's input (an option, a file given on the command line).

    Raised by the commands and by the library parts they share with scripts (the
    reproduction's method names and result files); the command line prints it as one
    ``Error: ...`` line with exit code 2.
    """


class TrainingDiverged(RuntimeError):
    """A loss became NaN or infinite; training stopped."""


class BackupError(ConfigError):
    """An interrupted run's backup cannot be resumed: damaged, or made for other data.

    A ``ValueError`` with a one-line message naming the backup directory and what to
    do; the backup is left as it is.
    """


class DataWarning(UserWarning):
    """A data set is usable but probably not what was meant (one-line message).

    The command line prints it as one ``Warning: ...`` line.
    """


class DataError(ConfigError):
    """The data do not fit the configuration or the model (one-line ``ValueError``)."""
