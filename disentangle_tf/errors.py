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


class WriteError(OSError):
    """A file of a run cannot be written: the disk is full, the quota is reached, the file
    system is read-only or the permission is denied.

    An ``OSError`` whose ``errno`` is the cause's (``ENOSPC``, ``EDQUOT``, ``EROFS`` or
    ``EACCES``) and ``filename`` the path, with a one-line message naming the path, what
    to do and what running the same command again does. What the run wrote before is
    kept (the backup of its last finished epoch among it), so that the same command,
    once the cause is gone, goes on where it stopped. The command line prints it as one
    ``Error: ...`` line with exit code 2.
    """

    def __init__(self, message: str, code: int | None = None, path=None):
        super().__init__(code, message, None if path is None else str(path))
        self.message = message

    def __str__(self) -> str:
        return self.message

    def __reduce__(self):
        return type(self), (self.message, self.errno, self.filename)
