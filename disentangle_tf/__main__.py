"""``python -m disentangle_tf``: the package's commands, listed; ``python -m disentangle_tf
COMMAND ...`` runs ``python -m disentangle_tf.COMMAND ...``.

Each command is imported only when it is run or listed (none of them loads TensorFlow
before it has checked its input).
"""

from __future__ import annotations

import importlib

import click

from .cli.common import run_program

#: The commands, in the order a user meets them.
COMMANDS = ("train", "predict", "convert", "reproduce", "report")


class Commands(click.Group):
    """A group whose commands are the ``main`` of :mod:`disentangle_tf.cli`'s modules."""

    def list_commands(self, context):
        return list(COMMANDS)

    def get_command(self, context, name):
        if name not in COMMANDS:
            return None
        return importlib.import_module(f"disentangle_tf.cli.{name}").main


@click.group(cls=Commands, invoke_without_command=True,
             context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110, "terminal_width": 110})
@click.pass_context
def main(context):
    """Adversarial and HSIC representation disentanglement for multi-task image classification.

    Each command is also python -m disentangle_tf.COMMAND; COMMAND --help lists its options.
    """
    if context.invoked_subcommand is None:
        click.echo(context.get_help())


if __name__ == "__main__":
    run_program(main, prog_name="python -m disentangle_tf")
