"""Shared command-line plumbing: one-line errors with exit code 2, quiet TensorFlow."""

from __future__ import annotations

import os
import sys
import warnings

import click

USAGE_ERROR = 2


class UserError(Exception):
    """A mistake in the user's input; shown as one line, exit code 2."""


def quiet_tensorflow(initialise=None):
    """Load TensorFlow without its C++ start-up chatter on stderr.

    TensorFlow's native libraries print device-probing notes (no CUDA driver, CPU
    instructions) straight to file descriptor 2 when they load, whatever
    ``TF_CPP_MIN_LOG_LEVEL`` says; they would bury a one-line error message. The
    descriptor is pointed at the null device while TensorFlow loads and sets up its
    devices, then restored. ``TF_CPP_MIN_LOG_LEVEL=0`` keeps the notes.

    Args:
        initialise: called with no argument while stderr is muted, to set up what
            must come first in a process (a multi-worker strategy); by default the
            devices are listed.

    Returns:
        What ``initialise`` returned.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    quiet = "tensorflow" not in sys.modules and os.environ["TF_CPP_MIN_LOG_LEVEL"] != "0"
    if quiet:
        sys.stderr.flush()
        saved = os.dup(2)
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 2)
    try:
        import tensorflow as tf

        return initialise() if initialise is not None else tf.config.list_logical_devices()
    finally:
        if quiet:
            os.dup2(saved, 2)
            os.close(saved)
            os.close(null)


def run_command(command: click.Command, args=None, prog_name: str | None = None) -> None:
    """Run a click command; user mistakes print one ``Error: ...`` line and exit 2.

    Click's own usage errors, :class:`UserError` and the package's ``ValueError``
    subclasses for bad configuration become a single line on stderr, never a
    traceback; a :class:`~disentangle_tf.errors.DataWarning` becomes one
    ``Warning: ...`` line. Anything else is a bug and propagates with its traceback.
    """
    from .config import ConfigError  # light imports: no TensorFlow
    from .errors import DataWarning, TrainingDiverged

    default_show = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, DataWarning):
            click.echo(f"Warning: {message}", err=True)
        else:
            default_show(message, category, filename, lineno, file, line)

    try:
        with warnings.catch_warnings():
            warnings.showwarning = show
            command.main(args=args, prog_name=prog_name, standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(1)
    except click.ClickException as error:
        click.echo(f"Error: {error.format_message()}", err=True)
        sys.exit(USAGE_ERROR)
    except (UserError, ConfigError) as error:
        click.echo(f"Error: {error}", err=True)
        sys.exit(USAGE_ERROR)
    except TrainingDiverged as error:
        click.echo(f"Error: {error}", err=True)
        sys.exit(1)
