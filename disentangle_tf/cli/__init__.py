"""The command lines: one module per command, and their shared plumbing.

Each command is run as ``python -m disentangle_tf.<command>`` (the entry points
``disentangle_tf/<command>.py``): :mod:`~disentangle_tf.cli.train`,
:mod:`~disentangle_tf.cli.predict`, :mod:`~disentangle_tf.cli.convert`,
:mod:`~disentangle_tf.cli.reproduce` and :mod:`~disentangle_tf.cli.report`. They check
their input before TensorFlow loads. :mod:`~disentangle_tf.cli.common` turns a user's
mistake into one ``Error: ...`` line with exit code 2; its names are importable from here.
"""

from .common import USAGE_ERROR, UserError, quiet_tensorflow, run_command

__all__ = ["USAGE_ERROR", "UserError", "quiet_tensorflow", "run_command"]
