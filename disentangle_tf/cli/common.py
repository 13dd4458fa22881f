"""Shared command-line plumbing: the environment of a command's process, one-line errors with
exit code 2, quiet TensorFlow."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import warnings

import click

from ..errors import ConfigError, DataWarning, TrainingDiverged, UserError, WriteError
from ..fast.onednn import prefer_onednn

USAGE_ERROR = 2
#: Exit code of a command stopped by SIGINT or SIGTERM (128 + SIGINT, the shells' convention).
INTERRUPTED = 130


@contextlib.contextmanager
def interrupt_on_termination():
    """Within the block, SIGTERM (``kill``, a scheduler's stop) raises KeyboardInterrupt as
    Ctrl-C does, so that a command can say how to resume; the earlier handler is restored after."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    earlier = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, earlier)


def quiet_tensorflow(initialise=None, verbose: bool = False):
    """Load TensorFlow without its C++ start-up chatter on stderr.

    TensorFlow's native libraries print device-probing notes straight to file
    descriptor 2 when they load (``oneDNN custom operations are on``, ``Could not find
    cuda drivers``, ``To enable the following instructions``), whatever
    ``TF_CPP_MIN_LOG_LEVEL`` says, and probing for a GPU prints ``failed call to cuInit``
    on a machine without one; they would bury a one-line error message and the
    progress display. The descriptor is pointed at the null device while TensorFlow
    loads, probes its GPUs and runs ``initialise``, then restored;
    ``TF_CPP_MIN_LOG_LEVEL`` is set to 2 (warnings and notes off) unless given, and
    the Python loggers of TensorFlow and absl show errors only.

    Args:
        initialise: called with no argument while stderr is muted, to set up what
            must come first in a process (a multi-worker strategy); by default the
            devices are listed.
        verbose: keep every line (``TF_CPP_MIN_LOG_LEVEL=0`` unless given); so does
            ``TF_CPP_MIN_LOG_LEVEL=0`` in the environment.

    Returns:
        What ``initialise`` returned.
    """
    import logging

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "0" if verbose else "2")
    verbose = verbose or os.environ["TF_CPP_MIN_LOG_LEVEL"] == "0"
    quiet = "tensorflow" not in sys.modules and not verbose
    if quiet:
        sys.stderr.flush()
        saved = os.dup(2)
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 2)
    try:
        import tensorflow as tf

        if quiet:
            tf.config.list_physical_devices("GPU")  # CUDA's probe logs here, once per process
            for name in ("tensorflow", "absl"):
                logging.getLogger(name).setLevel(logging.ERROR)
        return initialise() if initialise is not None else tf.config.list_logical_devices()
    finally:
        if quiet:
            os.dup2(saved, 2)
            os.close(saved)
            os.close(null)


def run_command(command: click.Command, args=None, prog_name: str | None = None) -> None:
    """Run a click command; user mistakes print one ``Error: ...`` line and exit 2.

    Click's own usage errors, :class:`UserError`, the package's ``ValueError``
    subclasses for bad configuration and :class:`~disentangle_tf.errors.WriteError` (a
    file that cannot be written: a full disk) become a single line on stderr, never a
    traceback; a :class:`~disentangle_tf.errors.DataWarning` becomes one
    ``Warning: ...`` line. Ctrl-C where the command does not handle it prints
    ``interrupted`` and exits 130, as the train command does. Anything else is a bug and
    propagates with its traceback.
    """

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
    except click.exceptions.Abort:  # Ctrl-C (KeyboardInterrupt) where the command does not say more
        click.echo("interrupted", err=True)
        sys.exit(INTERRUPTED)
    except click.ClickException as error:
        click.echo(f"Error: {error.format_message()}", err=True)
        sys.exit(USAGE_ERROR)
    except (UserError, ConfigError, WriteError) as error:
        click.echo(f"Error: {error}", err=True)
        sys.exit(USAGE_ERROR)
    except TrainingDiverged as error:
        click.echo(f"Error: {error}", err=True)
        sys.exit(1)


def command_environment() -> None:
    """Set the environment variables of a command's process; called as it starts, before
    TensorFlow loads (TensorFlow reads them then).

    ``TF_ENABLE_ONEDNN_OPTS=1``, TensorFlow's oneDNN CPU kernels
    (:func:`~disentangle_tf.fast.onednn.prefer_onednn`), unless the variable is set
    already or the fast paths are off (``DISENTANGLE_TF_FAST=0``). A value already in
    the environment is kept. ``docs/performance.rst`` ("Environment variables") says
    why, and how a Python program sets them itself.
    """
    prefer_onednn()


def run_program(command: click.Command, prog_name: str | None = None) -> None:
    """Run ``command`` as a whole process: :func:`command_environment`, then
    :func:`run_command` (one-line errors, exit code 2). The commands' entry points call it."""
    command_environment()
    run_command(command, prog_name=prog_name)


def console_script(command: click.Command, prog_name: str):
    """A function without arguments that runs ``command`` as the program ``prog_name``
    (:func:`run_program`): a console script's entry point, with the exit codes and
    one-line errors of ``python -m disentangle_tf.<command>``."""

    def script() -> None:
        run_program(command, prog_name=prog_name)

    script.__doc__ = f"Run the ``{prog_name}`` command (:func:`disentangle_tf.cli.common.run_program`)."
    return script
